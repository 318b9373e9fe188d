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

int run_serve(const std::string& config_path);
int run_migrate(const std::string& config_path);
int run_token(const std::string& config_path, const token_options& opts);
int run_routes();

}  // namespace cartd
