// cartd: the composition root is app/commands.cpp; this file only reads the command line.
#include <CLI/CLI.hpp>

#include "app/commands.hpp"

int main(int argc, char** argv) {
  CLI::App app{"cartd: the add-to-cart service"};
  app.require_subcommand(1);
  std::string config_path;
  app.add_option("--config", config_path, "TOML configuration file")->check(CLI::ExistingFile);

  auto* serve = app.add_subcommand("serve", "start a node");
  auto* migrate = app.add_subcommand("migrate", "apply schema migrations and exit");
  cartd::token_options tok;
  std::string role;
  auto* token = app.add_subcommand("token", "print a JWT signed with the configured secret");
  token->add_option("--sub", tok.sub, "user id (the sub claim)")->required();
  token->add_option("--role", role, "grant a role (only 'admin' exists)")
      ->check(CLI::IsMember({"admin"}));
  token->add_option("--ttl", tok.ttl, "lifetime, e.g. 15m or 1h")->capture_default_str();
  auto* routes = app.add_subcommand("routes", "print the route table");
  cartd::config_options cfg_opts;
  auto* config = app.add_subcommand("config", "print the effective configuration or check a file");
  config->add_flag("--print", cfg_opts.print, "the effective configuration, secrets masked");
  config->add_flag("--json", cfg_opts.json, "with --print: as JSON");
  config->add_option("--check", cfg_opts.check_path, "validate a TOML file and exit 0 or 2");
  for (auto* sub : {serve, migrate, token, config})
    sub->add_option("--config", config_path, "TOML configuration file")->check(CLI::ExistingFile);

  CLI11_PARSE(app, argc, argv);
  if (!role.empty()) tok.roles.push_back(role);
  if (*serve) return cartd::run_serve(config_path);
  if (*migrate) return cartd::run_migrate(config_path);
  if (*token) return cartd::run_token(config_path, tok);
  if (*routes) return cartd::run_routes();
  if (*config) return cartd::run_config(config_path, cfg_opts);
  return 2;
}
