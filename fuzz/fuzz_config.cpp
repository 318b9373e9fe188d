// The configuration loader: a TOML file and CARTD_* environment values, every key checked.
// Input: TOML text, a NUL, then environment lines NAME=VALUE.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

using namespace cartd;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto cut = in.find('\0');
  std::string_view toml = in.substr(0, cut);
  std::map<std::string, std::string> env;
  if (cut != std::string_view::npos) {
    std::string_view rest = in.substr(cut + 1);
    while (!rest.empty()) {
      auto nl = rest.find('\n');
      auto line = rest.substr(0, nl);
      auto eq = line.find('=');
      if (eq != std::string_view::npos)
        env[std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
      rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
    }
  }
  config c;
  std::vector<std::string> errors;
  bool ok = load_config_text(std::string(toml), "fuzz.toml", env, c, errors);
  if (ok != errors.empty()) __builtin_trap();  // refused exactly when a problem is named
  if (ok) describe_config(c);
  return 0;
}
