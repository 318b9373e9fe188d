-- POST /pricing/calculate: a 20-line cart with a code; QUOTE_BODY is the JSON body.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("QUOTE_BODY")
