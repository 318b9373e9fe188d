#pragma once
// The cartd subcommands; app/main.cpp only parses the command line and calls one of these.
#include <string>
#include <vector>

namespace cartd {

struct token_options {
  std::string sub;
  std::vector<std::string> roles;
  std::string ttl = "1h";
};

struct config_options {
  bool print = false;      ///< the effective configuration, secrets masked
  bool json = false;       ///< print it as JSON (for tools and tests)
  std::string check_path;  ///< validate this file alone (not the environment)
};

int run_serve(const std::string& config_path);
int run_migrate(const std::string& config_path);
int run_token(const std::string& config_path, const token_options& opts);
int run_routes();
int run_config(const std::string& config_path, const config_options& opts);

}  // namespace cartd
