// Stored cart snapshots (persistence/snapshot_codec.hpp): what the store gives back is decoded
// before a cart actor trusts it. A snapshot that decodes re-encodes to one that decodes to the
// same cart.
#include <cstdint>
#include <string>
#include <string_view>

#include "persistence/snapshot_codec.hpp"

using namespace cartd;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  decode_options(in);
  auto c = decode_snapshot(in);
  if (!c) return 0;
  auto again = encode_snapshot(*c);
  auto back = decode_snapshot(again);
  if (!back || encode_snapshot(*back) != again) __builtin_trap();
  return 0;
}
