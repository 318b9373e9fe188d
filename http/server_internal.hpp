#pragma once
// Pistache details shared by server.cpp and exchange.cpp only.
#include <pistache/http.h>

#include "http/exchange.hpp"

namespace cartd {

/// A response header with any name. Pistache 0.0.5 writes only typed headers on responses
/// (raw ones are dropped), so every header we send goes through this.
class text_header final : public Pistache::Http::Header::Header {
 public:
  text_header(std::string name, std::string value)
      : name_(std::move(name)), value_(std::move(value)) {}
  const char* name() const override { return name_.c_str(); }
  void write(std::ostream& os) const override { os << value_; }
#ifdef SAFE_HEADER_CAST
  uint64_t hash() const override { return std::hash<std::string>{}(name_); }
#endif

 private:
  std::string name_;
  std::string value_;
};

struct exchange::writer_box {
  Pistache::Http::ResponseWriter writer;
};

/// Pistache 0.0.5 closes HTTP/1.1 connections whose request has no Connection header; we
/// answer keep-alive as HTTP/1.1 says, unless the client asked to close.
void add_connection_header(Pistache::Http::ResponseWriter& w, const http_request& req);

/// True on a Pistache transport thread (one that has served a connection of ours).
bool on_transport_thread();

}  // namespace cartd
