-- Makes carts that hold something: POST /cart, then POST /cart/{id}/items on the cart it
-- answered (one line of a bench product), on the same connection; repeats. For memory per live
-- cart with items (bench/run). TOKEN: a user JWT. One request in flight per connection (wrk
-- without pipelining), so each response answers the request made just before it.
local next_cart = nil
local sent_create = false
local token = "Bearer " .. os.getenv("TOKEN")

request = function()
  if next_cart then
    local id = next_cart
    next_cart = nil
    sent_create = false
    return wrk.format("POST", "/api/v1/cart/" .. id .. "/items",
      {["Content-Type"] = "application/json", ["Authorization"] = token},
      '{"productId":"bench-tee","variantId":"v1","quantity":1}')
  end
  sent_create = true
  return wrk.format("POST", "/api/v1/cart", {["Authorization"] = token}, nil)
end

response = function(status, headers, body)
  if sent_create and status == 201 then
    next_cart = body:match('"id"%s*:%s*"([^"]+)"')
  end
end
