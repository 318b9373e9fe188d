#pragma once
// What this process's memory is made of, for /health/detailed, /metrics and the soak: the
// kernel's view (resident, of which anonymous), the allocator's (bytes the program holds now,
// and bytes the allocator keeps for reuse without returning them), and SQLite's page caches.
// A leak grows `allocated`; an allocator or cache settling grows only the others.
#include <cstdint>

namespace cartd {

struct memory_figures {
  std::int64_t rss = 0;             ///< VmRSS
  std::int64_t rss_anon = 0;        ///< RssAnon: heap and stacks, not file pages
  std::int64_t allocated = -1;      ///< bytes handed out by tcmalloc; -1 when not linked
  std::int64_t allocator_free = -1;  ///< bytes tcmalloc keeps mapped but unused; -1 unknown
  std::int64_t sqlite = 0;          ///< SQLite's own allocations (page caches, statements)
};

memory_figures read_memory();

}  // namespace cartd
