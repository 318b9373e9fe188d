#pragma once
// The Pistache endpoint: turns raw requests into exchanges, applies the checks every route
// shares (request id, body limit, content type, unknown route, wrong method), and dispatches.
#include <memory>

namespace cartd {

struct service;

class http_server {
 public:
  explicit http_server(service& svc);
  ~http_server();
  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  /// Binds and serves on background threads; returns the bound port.
  int start();
  /// Closes the listening socket: new connections are refused (a balancer retries them on
  /// another node, as nothing was sent); connections already open keep being served.
  void stop_accepting();
  /// Stops accepting and waits (bounded) for in-flight requests to be answered.
  void stop();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace cartd
