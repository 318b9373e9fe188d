#include "app/memory.hpp"

#include <sqlite3.h>

#include <cstdio>
#include <cstring>

// gperftools' C interface, present when the binary links tcmalloc (cartd does, its sanitized
// builds and the tests do not): weak, so a build without it reads null and reports -1.
extern "C" int MallocExtension_GetNumericProperty(const char* property, std::size_t* value)
    __attribute__((weak));

namespace cartd {

namespace {

std::int64_t tcmalloc_property(const char* name) {
  if (MallocExtension_GetNumericProperty == nullptr) return -1;
  std::size_t v = 0;
  return MallocExtension_GetNumericProperty(name, &v) ? static_cast<std::int64_t>(v) : -1;
}

}  // namespace

memory_figures read_memory() {
  memory_figures m;
  if (std::FILE* f = std::fopen("/proc/self/status", "r")) {
    char line[256];
    long kb = 0;
    while (std::fgets(line, sizeof line, f)) {
      if (std::sscanf(line, "VmRSS: %ld kB", &kb) == 1) m.rss = kb * 1024;
      if (std::sscanf(line, "RssAnon: %ld kB", &kb) == 1) m.rss_anon = kb * 1024;
    }
    std::fclose(f);
  }
  m.allocated = tcmalloc_property("generic.current_allocated_bytes");
  auto page_free = tcmalloc_property("tcmalloc.pageheap_free_bytes");
  auto cache_free = tcmalloc_property("tcmalloc.current_total_thread_cache_bytes");
  auto central_free = tcmalloc_property("tcmalloc.central_cache_free_bytes");
  if (page_free >= 0 && cache_free >= 0 && central_free >= 0)
    m.allocator_free = page_free + cache_free + central_free;
  m.sqlite = sqlite3_memory_used();
  return m;
}

}  // namespace cartd
