-- GET /cart/{id} over many carts.
local ids = {}
for line in io.lines(os.getenv("CART_IDS")) do ids[#ids + 1] = line end
local i = 0
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
request = function()
  i = i + 1
  return wrk.format("GET", "/api/v1/cart/" .. ids[(i % #ids) + 1])
end
