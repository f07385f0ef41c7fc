-- GET /order/: the first page of the list, newest first (the default page size).
dofile("report.lua")

wrk.path = "/order/"
