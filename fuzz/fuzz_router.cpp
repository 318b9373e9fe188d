// The router: method and path (with its query) matched against the route table, path
// parameters cut out; cart, item and session ids as the routes then check them.
// Input: method, a space, then the path.
#include <cstdint>
#include <string_view>

#include "domain/ids.hpp"
#include "http/router.hpp"

using namespace cartd;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto sp = in.find(' ');
  std::string_view method = sp == std::string_view::npos ? "GET" : in.substr(0, sp);
  std::string_view path = sp == std::string_view::npos ? in : in.substr(sp + 1);
  auto m = match_route(method, path);
  if (m.found) {
    if (method != m.found->method) __builtin_trap();
    for (const auto& p : m.params) {
      if (p.empty() || p.find('/') != std::string::npos) __builtin_trap();
      is_uuid(p);
    }
  }
  return 0;
}
