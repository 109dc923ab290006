-- wrk script: POST holds as many distinct buyers, one pre-minted JWT each (bench/tokens.txt).
-- Counts answers by status so the report can tell holds from refusals.
local tokens = {}
local counter = 0
local path = os.getenv("BENCH_PATH") or "/v1/sales/bench/reservations"
local body = os.getenv("BENCH_BODY") or '{"itemId":"item","quantity":1}'

function init(args)
  for line in io.lines(os.getenv("BENCH_TOKENS") or "bench/tokens.txt") do
    tokens[#tokens + 1] = line
  end
  counter = math.random(#tokens)
end

function request()
  counter = counter + 1
  if counter > #tokens then counter = 1 end
  return wrk.format("POST", path, {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. tokens[counter],
  }, body)
end

function done(summary, latency, requests)
  io.write(string.format("latency_p50_us=%d p99_us=%d p999_us=%d\n",
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
