-- POST /order with the body of the README's example (a valid order every time).
dofile("report.lua")

wrk.method = "POST"
wrk.path = "/order"
wrk.body = '{"name": "Bench Customer", "address": "1 Benchmark Street, Springfield", "price": 12.34}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json"
