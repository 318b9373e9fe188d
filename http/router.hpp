#pragma once
// The route table, declared once. Matching is by path segments; `{name}` matches one segment.
#include <string>
#include <string_view>
#include <vector>

#include "http/exchange.hpp"

namespace cartd {

using route_handler = void (*)(const exchange_ptr&);

struct route {
  const char* method;
  const char* pattern;
  route_handler handler;
};

const std::vector<route>& route_table();

struct route_match {
  const route* found = nullptr;
  std::vector<std::string> params;
  std::string allowed;  ///< methods of the path when only the method did not match ("GET, PATCH")
};

route_match match_route(std::string_view method, std::string_view path);

}  // namespace cartd
