// The `http` provider: API.md's payment protocol over libcurl. Each call carries the API key,
// JSON, and an Idempotency-Key that stays the same across retries of one operation; each try is
// bounded by payments.timeout. A 5xx or a refused connection is retried (at most twice, with
// backoff): every call is keyed, so repeating it is safe. A timeout is not repeated within the
// request (API.md): its outcome is unknown, and the shopper's retry or reconciliation repeats
// it with the same key.
#include <curl/curl.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <simdjson.h>

#include <mutex>
#include <thread>

#include "config/config.hpp"
#include "payments/payment_provider.hpp"
#include "persistence/bounded_pool.hpp"

namespace cartd {

namespace {

struct curl_handle {
  CURL* h = curl_easy_init();
  ~curl_handle() { curl_easy_cleanup(h); }
};

struct http_answer {
  long status = 0;  ///< 0: no answer (refused, reset)
  bool timed_out = false;
  std::string body;
};

std::size_t collect(char* data, std::size_t size, std::size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

std::string json_body(std::initializer_list<std::pair<const char*, std::string>> texts,
                      std::initializer_list<std::pair<const char*, std::int64_t>> numbers) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  for (const auto& [k, v] : texts) {
    w.Key(k);
    w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
  }
  for (const auto& [k, v] : numbers) {
    w.Key(k);
    w.Int64(v);
  }
  w.EndObject();
  return buf.GetString();
}

std::optional<provider_payment> parse_payment(simdjson::dom::element el) {
  simdjson::dom::object o;
  if (el.get_object().get(o)) return std::nullopt;
  provider_payment p;
  std::string_view sv;
  if (o["id"].get_string().get(sv)) return std::nullopt;
  p.id = std::string(sv);
  if (!o["status"].get_string().get(sv)) p.status = std::string(sv);
  if (!o["currency"].get_string().get(sv)) p.currency = std::string(sv);
  if (!o["reference"].get_string().get(sv)) p.reference = std::string(sv);
  std::int64_t amount = 0;
  if (!o["amount"].get_int64().get(amount)) p.amount = amount;
  return p;
}

std::string escape_query(CURL* h, const std::string& v) {
  char* e = curl_easy_escape(h, v.c_str(), static_cast<int>(v.size()));
  std::string out = e ? e : "";
  curl_free(e);
  return out;
}

class http_provider final : public payment_provider {
 public:
  explicit http_provider(const config& cfg)
      : base_(cfg.payments.url),
        auth_("Authorization: Bearer " + cfg.payments.api_key),
        timeout_(cfg.payments.timeout),
        handles_("payments-http", cfg.payments.workers, std::chrono::seconds(1),
                 [] { return std::make_unique<curl_handle>(); }) {
    while (!base_.empty() && base_.back() == '/') base_.pop_back();
  }

  std::string name() const override { return "http"; }

  provider_result authorize(const authorize_request& r) override {
    auto body = json_body({{"currency", r.currency}, {"token", r.token}, {"reference", r.reference}},
                          {{"amount", r.amount}});
    auto a = call("POST", "/v1/payments", body, r.idempotency_key, r.traceparent);
    if (a.status >= 400 && a.status < 500) return {provider_outcome::declined, {}, a.body};
    auto out = payment_of(a);
    if (out.outcome == provider_outcome::ok && out.payment.status == "declined")
      out.outcome = provider_outcome::declined;
    return out;
  }

  provider_result capture(const std::string& id, std::int64_t amount,
                          const std::string& key) override {
    return payment_of(call("POST", "/v1/payments/" + id + "/capture",
                           json_body({}, {{"amount", amount}}), key));
  }

  provider_result void_payment(const std::string& id, const std::string& key) override {
    return payment_of(call("POST", "/v1/payments/" + id + "/void", "{}", key));
  }

  provider_result refund(const std::string& id, std::int64_t amount,
                         const std::string& key) override {
    auto a = call("POST", "/v1/payments/" + id + "/refunds", json_body({}, {{"amount", amount}}), key);
    auto out = classify(a);
    if (out.outcome != provider_outcome::ok) return out;
    out.payment.id = id;  // the refund's own id is not ours to keep; the payment is refunded
    out.payment.status = "refunded";
    out.payment.amount = amount;
    return out;
  }

  std::optional<std::vector<provider_payment>> find_by_reference(
      const std::string& reference) override {
    std::string query;
    {
      auto lease = handles_.try_acquire();
      if (!lease) return std::nullopt;
      query = escape_query((*lease)->h, reference);
    }
    auto a = call("GET", "/v1/payments?reference=" + query, "", "");
    if (a.status != 200) return std::nullopt;
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    simdjson::dom::array items;
    if (parser.parse(a.body).get(doc) || doc["items"].get_array().get(items)) return std::nullopt;
    std::vector<provider_payment> out;
    for (auto el : items)
      if (auto p = parse_payment(el)) out.push_back(*p);
    return out;
  }

 private:
  static provider_result classify(const http_answer& a) {
    if (a.timed_out) return {provider_outcome::timeout, {}, "timed out"};
    if (a.status == 0 || a.status >= 500) return {provider_outcome::failure, {}, a.body};
    if (a.status >= 400) return {provider_outcome::declined, {}, a.body};
    return {provider_outcome::ok, {}, ""};
  }

  static provider_result payment_of(const http_answer& a) {
    auto out = classify(a);
    if (out.outcome != provider_outcome::ok) return out;
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (parser.parse(a.body).get(doc)) return {provider_outcome::failure, {}, "not JSON"};
    auto p = parse_payment(doc);
    if (!p) return {provider_outcome::failure, {}, "not a payment"};
    out.payment = *p;
    return out;
  }

  /// One operation: up to three tries for a failure, none again after a timeout.
  http_answer call(const char* method, const std::string& path, const std::string& body,
                   const std::string& key, const std::string& traceparent = {}) {
    http_answer a;
    for (int attempt = 0; attempt < 3; ++attempt) {
      if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(50 << (2 * attempt)));
      a = once(method, path, body, key, traceparent);
      if (a.timed_out || (a.status > 0 && a.status < 500)) return a;
    }
    return a;
  }

  http_answer once(const char* method, const std::string& path, const std::string& body,
                   const std::string& key, const std::string& traceparent) {
    http_answer a;
    auto lease = handles_.try_acquire();
    if (!lease) return a;  // every handle busy: a failure of ours, counted as the provider's
    CURL* h = (*lease)->h;
    curl_easy_reset(h);
    std::string url = base_ + path;
    curl_slist* headers = nullptr;
    headers = curl_slist_append(headers, auth_.c_str());
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Accept: application/json");
    std::string idem = "Idempotency-Key: " + key;
    if (!key.empty()) headers = curl_slist_append(headers, idem.c_str());
    // The shopper's trace continues at the provider (W3C Trace Context).
    std::string trace = "traceparent: " + traceparent;
    if (!traceparent.empty()) headers = curl_slist_append(headers, trace.c_str());
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_.count()));
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(timeout_.count()));
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &a.body);
    if (std::string(method) == "POST") {
      curl_easy_setopt(h, CURLOPT_POST, 1L);
      curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.c_str());
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    }
    auto rc = curl_easy_perform(h);
    curl_slist_free_all(headers);
    if (rc == CURLE_OPERATION_TIMEDOUT) {
      a.timed_out = true;
    } else if (rc == CURLE_OK) {
      curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &a.status);
    }
    return a;
  }

  std::string base_;
  std::string auth_;
  std::chrono::milliseconds timeout_;
  bounded_pool<curl_handle> handles_;
};

}  // namespace

std::unique_ptr<payment_provider> make_http_provider(const config& cfg) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  return std::make_unique<http_provider>(cfg);
}

}  // namespace cartd
