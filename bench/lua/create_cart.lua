-- POST /cart with an empty body: one new live cart actor per request.
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
