/* Counts heap allocations of a process (LD_PRELOAD), for bench/profile's allocations per
 * request: malloc, realloc, posix_memalign, aligned_alloc and the plain C++ operator new and
 * new[] (which cartd's allocator, tcmalloc, implements on its own entry points, so they are
 * wrapped too). Not counted: calloc (dlsym itself calls it), the nothrow and aligned forms of
 * operator new (cartd's hot path uses neither), so the figure is a lower bound. The count
 * is written to the file named by ALLOC_COUNT_FILE every 50 ms, read by the bench script before
 * and after a load run.
 *   cc -O2 -shared -fPIC -o alloc_count.so alloc_count.c -ldl -lpthread
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static atomic_ulong count;

#define NEXT(type, name, ...)                                 \
  static type (*real)(__VA_ARGS__);                            \
  if (!real) real = (type(*)(__VA_ARGS__))dlsym(RTLD_NEXT, name)

void* malloc(size_t n) {
  NEXT(void*, "malloc", size_t);
  atomic_fetch_add_explicit(&count, 1, memory_order_relaxed);
  return real(n);
}
void* realloc(void* p, size_t n) {
  NEXT(void*, "realloc", void*, size_t);
  atomic_fetch_add_explicit(&count, 1, memory_order_relaxed);
  return real(p, n);
}
int posix_memalign(void** out, size_t a, size_t n) {
  NEXT(int, "posix_memalign", void**, size_t, size_t);
  atomic_fetch_add_explicit(&count, 1, memory_order_relaxed);
  return real(out, a, n);
}
void* aligned_alloc(size_t a, size_t n) {
  NEXT(void*, "aligned_alloc", size_t, size_t);
  atomic_fetch_add_explicit(&count, 1, memory_order_relaxed);
  return real(a, n);
}
/* operator new(size_t) and new[](size_t). */
void* _Znwm(size_t n) {
  NEXT(void*, "_Znwm", size_t);
  atomic_fetch_add_explicit(&count, 1, memory_order_relaxed);
  return real(n);
}
void* _Znam(size_t n) {
  NEXT(void*, "_Znam", size_t);
  atomic_fetch_add_explicit(&count, 1, memory_order_relaxed);
  return real(n);
}

static void* writer(void* arg) {
  const char* path = (const char*)arg;
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  for (;;) {
    FILE* f = fopen(tmp, "w");
    if (f) {
      fprintf(f, "%lu\n", atomic_load(&count));
      fclose(f);
      rename(tmp, path);
    }
    usleep(50000);
  }
  return NULL;
}

__attribute__((constructor)) static void start(void) {
  const char* path = getenv("ALLOC_COUNT_FILE");
  if (!path) return;
  pthread_t t;
  pthread_create(&t, NULL, writer, (void*)path);
  pthread_detach(t);
}
