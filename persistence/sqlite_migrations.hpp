#pragma once
// The numbered schema of the SQLite store. Append only: never edit a shipped migration.
#include <vector>

namespace cartd::sqlite {

struct migration {
  int version;
  const char* sql;
};

const std::vector<migration>& migrations();

}  // namespace cartd::sqlite
