// Everything that crosses nodes survives CAF's binary serializer unchanged, alone and inside a
// message (the way the middleman sends it), and every cart command the HTTP side sends has a
// wire form that converts back to the same command.
#include <caf/all.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <gtest/gtest.h>

#include "actors/cluster.hpp"
#include "actors/wire.hpp"
#include "config/config.hpp"

namespace cartd {
namespace {

struct wire_fixture : ::testing::Test {
  static caf::actor_system_config& cfg() {
    static caf::actor_system_config c = [] {
      caf::actor_system_config x;
      x.add_message_types<caf::id_block::cartd>();
      return x;
    }();
    return c;
  }
  caf::actor_system sys{cfg()};

  template <class T>
  T round_trip(T x) {
    std::vector<char> buf;
    caf::binary_serializer sink{sys, buf};
    EXPECT_FALSE(sink(x));
    T y;
    caf::binary_deserializer source{sys, buf};
    EXPECT_FALSE(source(y));
    return y;
  }

  caf::message message_round_trip(const caf::message& m) {
    std::vector<char> buf;
    caf::binary_serializer sink{sys, buf};
    auto copy = m;
    EXPECT_FALSE(sink(copy));
    caf::message out;
    caf::binary_deserializer source{sys, buf};
    EXPECT_FALSE(source(out));
    return out;
  }
};

forward_request sample_request() {
  forward_request fr;
  fr.target = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
  fr.who = principal{"user-1", "sess-2", true, "user-3"};
  fr.has_if_match = true;
  fr.if_match = 42;
  fr.command.kind = wire_command::patch;
  fr.command.has_codes = true;
  fr.command.codes = {"SAVE10", "ÉTÉ"};
  fr.command.has_metadata = true;
  fr.command.metadata_json = R"({"gift":true})";
  fr.spec.ok_status = 201;
  fr.spec.view = 1;
  fr.spec.location = location_rule{location_rule::item_path, "p-1", "v-1"};
  fr.spec.method = "POST";
  fr.spec.path = "/api/v1/cart/x/items";
  fr.spec.request_id = "rid";
  fr.spec.if_none_match = "\"3\"";
  fr.spec.idempotency_scope = "u:user-1";
  fr.spec.idempotency_key = "key-1";
  fr.origin = "127.0.0.1:7001";
  return fr;
}

TEST_F(wire_fixture, forward_request_round_trips) {
  auto in = sample_request();
  auto out = round_trip(in);
  EXPECT_EQ(out.target, in.target);
  EXPECT_EQ(out.who.user, "user-1");
  EXPECT_EQ(out.who.session, "sess-2");
  EXPECT_TRUE(out.who.admin);
  EXPECT_EQ(out.who.bound_user, "user-3");
  EXPECT_TRUE(out.has_if_match);
  EXPECT_EQ(out.if_match, 42u);
  EXPECT_EQ(out.command.kind, wire_command::patch);
  EXPECT_EQ(out.command.codes, in.command.codes);
  EXPECT_EQ(out.command.metadata_json, in.command.metadata_json);
  EXPECT_FALSE(out.command.has_region);
  EXPECT_EQ(out.spec.ok_status, 201);
  EXPECT_EQ(out.spec.location.kind, location_rule::item_path);
  EXPECT_EQ(out.spec.location.variant, "v-1");
  EXPECT_EQ(out.spec.if_none_match, "\"3\"");
  EXPECT_EQ(out.spec.idempotency_key, "key-1");
  EXPECT_EQ(out.origin, in.origin);
}

TEST_F(wire_fixture, forward_answer_and_members_round_trip_inside_messages) {
  forward_answer a{201, "application/json", "\"7\"", R"({"id":"x"})", {"Location", "/api/v1/cart/x"}, true};
  auto m = message_round_trip(caf::make_message(a));
  ASSERT_TRUE(m.match_elements<forward_answer>());
  const auto& b = m.get_as<forward_answer>(0);
  EXPECT_EQ(b.status, 201);
  EXPECT_EQ(b.etag, "\"7\"");
  EXPECT_EQ(b.body, a.body);
  EXPECT_EQ(b.headers, a.headers);
  EXPECT_TRUE(b.recorded);

  std::vector<member_info> ms{{"127.0.0.1:7001", 1}, {"127.0.0.1:7002", 17000000000000ULL}};
  auto m2 = message_round_trip(caf::make_message(hello_atom::value, ms.front()));
  ASSERT_TRUE((m2.match_elements<hello_atom, member_info>()));
  EXPECT_EQ(m2.get_as<member_info>(1).address, "127.0.0.1:7001");
  auto m3 = message_round_trip(caf::make_message(ms));
  ASSERT_TRUE(m3.match_elements<std::vector<member_info>>());
  EXPECT_EQ(m3.get_as<std::vector<member_info>>(0).back().incarnation, 17000000000000ULL);

  auto m4 = message_round_trip(caf::make_message(sample_request()));
  ASSERT_TRUE(m4.match_elements<forward_request>());
  EXPECT_EQ(m4.get_as<forward_request>(0).spec.request_id, "rid");
}

TEST(wire_commands, every_front_end_command_converts_back) {
  cart_patch patch;
  patch.region = "";
  patch.shipping_method = "express";
  std::vector<cart_command> cmds{
      create_cart{"EUR", "DE"},
      get_cart{},
      add_item_cmd{product_id{"p"}, variant_id{"v"}, 3},
      set_item_quantity_cmd{item_id{"i"}, 9},
      remove_item_cmd{item_id{"i"}},
      patch_cart_cmd{patch},
      delete_cart_cmd{},
      merge_cart{cart_id{"src"}, merge_strategy::replace},
  };
  for (const auto& c : cmds) {
    wire_command w;
    ASSERT_TRUE(to_wire(c, w));
    auto back = from_wire(w);
    ASSERT_EQ(back.index(), c.index());
  }
  wire_command w;
  ASSERT_TRUE(to_wire(cmds[2], w));
  auto add = std::get<add_item_cmd>(from_wire(w));
  EXPECT_EQ(add.product.value, "p");
  EXPECT_EQ(add.quantity, 3);
  ASSERT_TRUE(to_wire(cmds[5], w));
  auto p = std::get<patch_cart_cmd>(from_wire(w)).patch;
  ASSERT_TRUE(p.region.has_value());
  EXPECT_EQ(*p.region, "");
  EXPECT_FALSE(p.discount_codes.has_value());
  EXPECT_EQ(p.shipping_method.value_or(""), "express");
  EXPECT_FALSE(p.metadata_json.has_value());
  ASSERT_TRUE(to_wire(cmds[7], w));
  auto mg = std::get<merge_cart>(from_wire(w));
  EXPECT_EQ(mg.source.value, "src");
  EXPECT_EQ(mg.strategy, merge_strategy::replace);
  // Internal commands never cross.
  EXPECT_FALSE(to_wire(lend_for_merge{}, w));
  EXPECT_FALSE(to_wire(reload_cart{}, w));
  EXPECT_FALSE(to_wire(fail_cart{}, w));
}

TEST(rendezvous, stable_spread_and_minimal_movement) {
  std::vector<std::string> three{"127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"};
  std::vector<std::string> two{"127.0.0.1:7001", "127.0.0.1:7003"};
  std::map<std::string, int> counts;
  int moved_needlessly = 0;
  for (int i = 0; i < 3000; ++i) {
    auto key = "cart-" + std::to_string(i);
    auto a = rendezvous_owner(three, key);
    EXPECT_EQ(a, rendezvous_owner(three, key));
    counts[a]++;
    auto b = rendezvous_owner(two, key);
    // Losing a member moves only that member's carts.
    if (a != "127.0.0.1:7002" && a != b) ++moved_needlessly;
  }
  EXPECT_EQ(moved_needlessly, 0);
  for (const auto& m : three) {
    EXPECT_GT(counts[m], 800) << m;
    EXPECT_LT(counts[m], 1200) << m;
  }
}

TEST(cluster_addresses, host_port_parsing) {
  std::string host;
  std::uint16_t port = 0;
  EXPECT_TRUE(split_host_port("127.0.0.1:7001", host, port));
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, 7001);
  EXPECT_FALSE(split_host_port("127.0.0.1", host, port));
  EXPECT_FALSE(split_host_port(":7001", host, port));
  EXPECT_FALSE(split_host_port("h:0", host, port));
  EXPECT_FALSE(split_host_port("h:65536", host, port));
  EXPECT_FALSE(split_host_port("h:12a", host, port));
}

}  // namespace
}  // namespace cartd
