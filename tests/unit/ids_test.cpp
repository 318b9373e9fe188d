#include <gtest/gtest.h>

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
}

}  // namespace
}  // namespace cartd
