-- GET /order/status/<number>, each request for a random existing order. The numbers come
-- from the file named by BENCH_NUMBERS, one per line (loads.py samples them from the table).
dofile("report.lua")

local numbers = {}

function init(args)
   for line in io.lines(os.getenv("BENCH_NUMBERS")) do
      table.insert(numbers, line)
   end
   math.randomseed(os.time() * 100 + id)
end

function request()
   return wrk.format("GET", "/order/status/" .. numbers[math.random(#numbers)])
end
