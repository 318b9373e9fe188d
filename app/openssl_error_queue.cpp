// Clears the calling thread's OpenSSL error queue before every TLS I/O call in the process.
//
// Why: OpenSSL's SSL_get_error() reports SSL_ERROR_SSL whenever the thread's error queue is not
// empty, whatever the call it is asked about did ("the current thread's error queue must be
// empty before the TLS/SSL I/O operation is attempted", SSL_get_error(3)). CAF 0.17.6's OpenSSL
// transport (libcaf_openssl, Debian's build) never clears it: it drains the queue only inside a
// CAF_LOG_INFO argument, which a build without logging never evaluates. So one failed handshake
// on the middleman's thread -- a peer with a certificate of another CA, a plain-TCP node, a port
// scanner -- leaves an entry behind, and the next SSL_read on a healthy cluster link that merely
// has no data yet (SSL_ERROR_WANT_READ) is misreported as a failure and the link is closed.
// Measured before this file: a rejected outsider retrying its join once a second made the two
// members of a TLS cluster drop each other 12 times in 8 s (test_cluster_api TlsTest).
//
// How: the executable defines the four calls CAF makes (SSL_read, SSL_write, SSL_accept,
// SSL_connect); the dynamic linker resolves libcaf_openssl's references to these definitions
// first, and each clears the queue and calls the real one (dlsym RTLD_NEXT). libpq and libcurl
// clear the queue themselves before their own calls; doing it again for them changes nothing.
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>

namespace {

template <class F>
F real(const char* name) {
  void* f = dlsym(RTLD_NEXT, name);
  if (f == nullptr) {
    std::fprintf(stderr, "cartd: cannot find %s in libssl: %s\n", name, dlerror());
    std::abort();
  }
  return reinterpret_cast<F>(f);
}

using io_fn = int (*)(SSL*, void*, int);
using write_fn = int (*)(SSL*, const void*, int);
using handshake_fn = int (*)(SSL*);

}  // namespace

extern "C" {

__attribute__((visibility("default"))) int SSL_read(SSL* ssl, void* buf, int num) {
  static const io_fn next = real<io_fn>("SSL_read");
  ERR_clear_error();
  return next(ssl, buf, num);
}

__attribute__((visibility("default"))) int SSL_write(SSL* ssl, const void* buf, int num) {
  static const write_fn next = real<write_fn>("SSL_write");
  ERR_clear_error();
  return next(ssl, buf, num);
}

__attribute__((visibility("default"))) int SSL_accept(SSL* ssl) {
  static const handshake_fn next = real<handshake_fn>("SSL_accept");
  ERR_clear_error();
  return next(ssl);
}

__attribute__((visibility("default"))) int SSL_connect(SSL* ssl) {
  static const handshake_fn next = real<handshake_fn>("SSL_connect");
  ERR_clear_error();
  return next(ssl);
}

}  // extern "C"
