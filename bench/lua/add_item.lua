-- POST /cart/{id}/items over many carts. CART_IDS: file of cart ids; TOKEN: a user JWT.
-- Rotates carts first, then variants, so no line nears the per-line maximum.
local ids = {}
for line in io.lines(os.getenv("CART_IDS")) do ids[#ids + 1] = line end
local variants = tonumber(os.getenv("VARIANTS") or "5")
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")

function setup(thread)
  thread:set("offset", math.random(1, #ids))
end

request = function()
  i = i + 1
  local k = i + (offset or 0)
  local id = ids[(k % #ids) + 1]
  local v = "v" .. ((math.floor(k / #ids) % variants) + 1)
  return wrk.format(nil, "/api/v1/cart/" .. id .. "/items", nil,
    '{"productId":"bench-tee","variantId":"' .. v .. '","quantity":1}')
end
