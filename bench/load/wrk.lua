-- wrk script shared by every scenario of `bun run bench` (driven by bench/load/wrk.ts).
--
-- Each thread takes its own slice of the entries file (one buyer token or one signed webhook a line),
-- pre-formats its requests in init(), and counts answers by status, by problem `code` and by payment
-- `outcome` in tables that done() gathers from every thread with thread:get.
--
-- The run ends cleanly, so that the benchmark can hold the server to exact counts: once a thread has
-- sent everything it should (mode "once") or its time is up (mode "cycle"), delay() parks every
-- connection instead of sending more, and the thread stops itself when the last answer is in. It then
-- prints "bench-thread-done"; the runner stops wrk with SIGINT when every thread has said so.
--
-- Environment: BENCH_MODE (cycle | once), BENCH_THREADS, BENCH_SECONDS (cycle: how long; once: a cap,
-- 0 for none), BENCH_REPEAT (once: each entry this many times, back to back), BENCH_METHOD, BENCH_PATH,
-- BENCH_BODY, BENCH_HEADERS (static "Name: value" lines), BENCH_ENTRIES (file; a line is "value" or
-- "value<TAB>body"), BENCH_ENTRY_HEADER (the header that carries the value), BENCH_FILLER_PATH (a
-- harmless GET sent only if wrk asks for a request after the end, e.g. after a reconnect).

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clock_id, bench_timespec *tp);
]]
local timespec = ffi.new("bench_timespec")
local CLOCK_MONOTONIC = 1

local function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, timespec)
  return tonumber(timespec.tv_sec) * 1000 + tonumber(timespec.tv_nsec) / 1e6
end

local mode = os.getenv("BENCH_MODE") or "cycle"
local seconds = tonumber(os.getenv("BENCH_SECONDS") or "10")
local repeat_count = tonumber(os.getenv("BENCH_REPEAT") or "1")
local threads_total = tonumber(os.getenv("BENCH_THREADS") or "1")
local park_ms = 3600 * 1000

-- setup() runs in the main Lua state, once per thread, before any thread starts.
local threads = {}
function setup(thread)
  thread:set("bench_thread_index", #threads)
  threads[#threads + 1] = thread
end

-- Per-thread state; the bench_* globals are read by done() through thread:get.
bench_thread_index = 0
bench_sent = 0
bench_answered = 0
bench_fillers = 0
bench_status = {}
bench_code = {}
bench_outcome = {}
bench_first_ms = 0
bench_last_ms = 0
bench_last_success_ms = 0
local requests = {}
local next_request = 1
local sequence_length = 0
local sequence_position = 0
local deadline_ms = nil
local finished = false
local filler = nil

local function parse_headers(text)
  local headers = {}
  for line in string.gmatch(text or "", "[^\n]+") do
    local name, value = string.match(line, "^([^:]+):%s*(.-)%s*$")
    if name then headers[name] = value end
  end
  return headers
end

function init(args)
  local method = os.getenv("BENCH_METHOD") or "POST"
  local path = os.getenv("BENCH_PATH") or "/"
  local default_body = os.getenv("BENCH_BODY")
  if default_body == "" then default_body = nil end
  local static_headers = parse_headers(os.getenv("BENCH_HEADERS"))
  local entries = os.getenv("BENCH_ENTRIES")
  local entry_header = os.getenv("BENCH_ENTRY_HEADER")
  local function build(value, body)
    local headers = {}
    for name, v in pairs(static_headers) do headers[name] = v end
    if value ~= nil and entry_header ~= nil then headers[entry_header] = value end
    if body ~= nil then headers["Content-Type"] = "application/json" end
    return wrk.format(method, path, headers, body)
  end
  if entries ~= nil and entries ~= "" then
    local line_number = 0
    for line in io.lines(entries) do
      if line_number % threads_total == bench_thread_index then
        local tab = string.find(line, "\t", 1, true)
        if tab then
          requests[#requests + 1] = build(string.sub(line, 1, tab - 1), string.sub(line, tab + 1))
        else
          requests[#requests + 1] = build(line, default_body)
        end
      end
      line_number = line_number + 1
    end
  else
    requests[1] = build(nil, default_body)
  end
  if mode == "cycle" then
    -- Threads start at different places so that concurrent buyers differ.
    math.randomseed(bench_thread_index * 7919 + 17)
    next_request = math.random(#requests)
  end
  sequence_length = #requests * repeat_count
  filler = wrk.format("GET", os.getenv("BENCH_FILLER_PATH") or "/healthz", {}, nil)
end

-- delay() is asked before every request: it grants the connection a request, or parks it for good
-- once sending is over. request() then spends a grant. Grants are counted so that a request decided
-- just before the deadline is still sent and answered before the thread stops.
local granted = 0
local used = 0

local function start_clock()
  if bench_first_ms == 0 then
    bench_first_ms = now_ms()
    if seconds > 0 then deadline_ms = bench_first_ms + seconds * 1000 end
  end
end

local function sending_over()
  if mode == "once" and granted >= sequence_length then return true end
  return deadline_ms ~= nil and now_ms() >= deadline_ms
end

local function finish_if_drained()
  if finished or used < granted or bench_answered < bench_sent or not sending_over() then return end
  finished = true
  bench_last_ms = now_ms()
  io.write("bench-thread-done\n")
  io.flush()
  wrk.thread:stop()
end

function delay()
  start_clock()
  if sending_over() then
    finish_if_drained()
    return park_ms
  end
  granted = granted + 1
  return 0
end

function request()
  -- wrk calls request() once on thread 0 before the run, only to check the request it builds. That
  -- call comes before any delay() (every connection asks delay() first) and is not a request sent.
  if bench_first_ms == 0 then return requests[1] end
  bench_sent = bench_sent + 1
  if used >= granted then
    if sending_over() then
      -- Only after a reconnect: wrk wants a request although the run is over. Send a harmless read.
      bench_fillers = bench_fillers + 1
      return filler
    end
    granted = granted + 1
  end
  used = used + 1
  if mode == "once" then
    local index = math.floor(sequence_position / repeat_count) + 1
    sequence_position = sequence_position + 1
    return requests[index]
  end
  local r = requests[next_request]
  next_request = next_request + 1
  if next_request > #requests then next_request = 1 end
  return r
end

function response(status, headers, body)
  bench_answered = bench_answered + 1
  bench_status[status] = (bench_status[status] or 0) + 1
  if status >= 400 then
    local code = body and string.match(body, '"code"%s*:%s*"([%w_]+)"')
    if code then bench_code[code] = (bench_code[code] or 0) + 1 end
  elseif status < 300 then
    local outcome = body and string.match(body, '"outcome"%s*:%s*"([%w_]+)"')
    if outcome then bench_outcome[outcome] = (bench_outcome[outcome] or 0) + 1 end
    if status == 201 or outcome == "confirmed" then bench_last_success_ms = now_ms() end
  end
  finish_if_drained()
end

local function add_into(total, part)
  for key, count in pairs(part or {}) do
    total[tostring(key)] = (total[tostring(key)] or 0) + count
  end
end

local function json_counts(counts)
  local parts = {}
  for key, count in pairs(counts) do parts[#parts + 1] = string.format('"%s":%d', key, count) end
  return "{" .. table.concat(parts, ",") .. "}"
end

function done(summary, latency, _)
  local status, code, outcome = {}, {}, {}
  local sent, answered, fillers = 0, 0, 0
  local first, last, last_success = nil, 0, 0
  for _, thread in ipairs(threads) do
    add_into(status, thread:get("bench_status"))
    add_into(code, thread:get("bench_code"))
    add_into(outcome, thread:get("bench_outcome"))
    sent = sent + thread:get("bench_sent")
    answered = answered + thread:get("bench_answered")
    fillers = fillers + thread:get("bench_fillers")
    local f = thread:get("bench_first_ms")
    if f > 0 and (first == nil or f < first) then first = f end
    local l = thread:get("bench_last_ms")
    if l == 0 then l = now_ms() end
    if l > last then last = l end
    local s = thread:get("bench_last_success_ms")
    if s > last_success then last_success = s end
  end
  first = first or 0
  local e = summary.errors
  io.write(string.format(
    'bench-result {"sent":%d,"answered":%d,"fillers":%d,"elapsedMs":%.3f,"lastSuccessAfterMs":%.3f,' ..
    '"latencyUs":{"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d,"mean":%.1f},' ..
    '"socketErrors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},' ..
    '"status":%s,"code":%s,"outcome":%s}\n',
    sent, answered, fillers, last - first, last_success > 0 and (last_success - first) or -1,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean,
    e.connect, e.read, e.write, e.timeout,
    json_counts(status), json_counts(code), json_counts(outcome)))
end
