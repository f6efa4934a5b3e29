-- wrk: POST /v1/items with a small JSON body (the generated service's business route).
wrk.method = "POST"
wrk.body = '{"name":"widget"}'
wrk.headers["Content-Type"] = "application/json"
