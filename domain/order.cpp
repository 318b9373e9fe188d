#include "domain/order.hpp"

#include <array>
#include <cstdio>
#include <utility>

namespace cartd {

namespace {

constexpr std::array<std::pair<order_status, const char*>, 5> k_order_words{{
    {order_status::paid, "paid"},
    {order_status::fulfilled, "fulfilled"},
    {order_status::shipped, "shipped"},
    {order_status::delivered, "delivered"},
    {order_status::cancelled, "cancelled"},
}};

constexpr std::array<std::pair<payment_status, const char*>, 4> k_payment_words{{
    {payment_status::authorized, "authorized"},
    {payment_status::captured, "captured"},
    {payment_status::voided, "voided"},
    {payment_status::refunded, "refunded"},
}};

template <class E, std::size_t N>
const char* word_of(const std::array<std::pair<E, const char*>, N>& words, E e) {
  for (const auto& [value, word] : words)
    if (value == e) return word;
  return "";
}

template <class E, std::size_t N>
std::optional<E> value_of(const std::array<std::pair<E, const char*>, N>& words,
                          std::string_view text) {
  for (const auto& [value, word] : words)
    if (text == word) return value;
  return std::nullopt;
}

constexpr char k_crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's civil_from_days); done
// here rather than with gmtime so that the number is pure and the same on every platform.
void civil_from_days(std::int64_t z, int& y, unsigned& m, unsigned& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<int>(yoe + era * 400 + (m <= 2 ? 1 : 0));
}

}  // namespace

const char* to_string(order_status s) { return word_of(k_order_words, s); }

std::optional<order_status> parse_order_status(std::string_view text) {
  return value_of(k_order_words, text);
}

bool can_transition(order_status from, order_status to) {
  switch (from) {
    case order_status::paid:
      return to == order_status::fulfilled || to == order_status::cancelled;
    case order_status::fulfilled:
      return to == order_status::shipped || to == order_status::cancelled;
    case order_status::shipped:
      return to == order_status::delivered;
    case order_status::delivered:
    case order_status::cancelled:
      return false;
  }
  return false;
}

transition_result decide_transition(order_status from, order_status to) {
  if (from == to) return transition_result::no_change;
  return can_transition(from, to) ? transition_result::apply : transition_result::invalid;
}

cancel_decision decide_cancel(order_status from) {
  if (from == order_status::cancelled) return cancel_decision::already_cancelled;
  return can_transition(from, order_status::cancelled) ? cancel_decision::cancel
                                                       : cancel_decision::invalid;
}

const char* to_string(payment_status s) { return word_of(k_payment_words, s); }

std::optional<payment_status> parse_payment_status(std::string_view text) {
  return value_of(k_payment_words, text);
}

payment_undo payment_on_cancel(payment_status s) {
  switch (s) {
    case payment_status::authorized:
      return payment_undo::void_payment;
    case payment_status::captured:
      return payment_undo::refund_payment;
    case payment_status::voided:
    case payment_status::refunded:
      return payment_undo::nothing;
  }
  return payment_undo::nothing;
}

std::string order_number(std::int64_t now_ms, std::uint64_t random_bits) {
  constexpr std::int64_t ms_per_day = 86'400'000;
  std::int64_t days = now_ms / ms_per_day;
  if (now_ms % ms_per_day < 0) --days;  // floor, for instants before 1970
  int y = 0;
  unsigned m = 0, d = 0;
  civil_from_days(days, y, m, d);
  char date[40];  // room for any int year, so the compiler can prove nothing is cut
  std::snprintf(date, sizeof date, "%04d%02u%02u", y, m, d);
  std::string out = "CD-";
  out += date;
  out += '-';
  for (int shift = 35; shift >= 0; shift -= 5) out += k_crockford[(random_bits >> shift) & 31u];
  return out;
}

}  // namespace cartd
