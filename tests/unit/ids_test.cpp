#include <gtest/gtest.h>

#include <cstdio>
#include <ctime>
#include <set>

#include "domain/ids.hpp"
#include "domain/time.hpp"

namespace cartd {
namespace {

TEST(ids, uuid_v7_is_well_formed_time_ordered_and_unique) {
  std::set<std::string> seen;
  std::string prev;
  for (int i = 0; i < 1000; ++i) {
    auto id = new_uuid_v7(1700000000000 + i);
    ASSERT_TRUE(is_uuid(id)) << id;
    EXPECT_EQ(id[14], '7');
    EXPECT_TRUE(id[19] == '8' || id[19] == '9' || id[19] == 'a' || id[19] == 'b');
    EXPECT_GT(id, prev);
    prev = id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(ids, validates_uuid_and_catalog_ids) {
  EXPECT_FALSE(is_uuid("not-a-uuid"));
  EXPECT_FALSE(is_uuid("0190f3e2-7a1b-7c3d-8e4f-5a6b7c8d9e0"));
  EXPECT_TRUE(is_catalog_id("v-red.1_X"));
  EXPECT_FALSE(is_catalog_id(""));
  EXPECT_FALSE(is_catalog_id("a/b"));
  EXPECT_FALSE(is_catalog_id(std::string(65, 'a')));
}

TEST(time, formats_rfc3339_with_milliseconds) {
  EXPECT_EQ(format_rfc3339(1700000000123), "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(format_rfc3339(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(format_rfc3339(951782400000), "2000-02-29T00:00:00.000Z");  // a leap day of a /400
  EXPECT_EQ(format_rfc3339(4107542399999), "2100-02-28T23:59:59.999Z");  // 2100 is no leap year
  EXPECT_EQ(format_rfc3339(-1), "1969-12-31T23:59:59.999Z");
  // Beyond four year digits: the nearest instant that has them, never a made-up date.
  EXPECT_EQ(format_rfc3339(253402300800000 + 59 * 86400000LL), "9999-12-31T23:59:59.999Z");
  EXPECT_EQ(format_rfc3339(-62167219200001), "0000-01-01T00:00:00.000Z");
  EXPECT_EQ(format_rfc3339(-62167219200000), "0000-01-01T00:00:00.000Z");
}

TEST(time, rfc3339_agrees_with_gmtime_across_two_centuries) {
  // A day and a few seconds apart, from 1900 to 2100: every month, leap day and year edge.
  for (std::int64_t s = -2208988800; s < 4102444800; s += 86400 * 3 + 3607) {
    std::time_t t = static_cast<std::time_t>(s);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char want[32];
    std::snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02d.042Z", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    ASSERT_EQ(format_rfc3339(s * 1000 + 42), want) << s;
  }
}

}  // namespace
}  // namespace cartd
