-- POST /v3/accounting/records/export-results, each request with records nobody reported yet.
--
-- wrk ... -s export.lua URL -- TOKEN TAG FIRST SPAN PER_REQUEST
-- Thread k reports records accr_TAG_n for n in [FIRST + k*SPAN, FIRST + (k+1)*SPAN), in
-- order, PER_REQUEST per request; its connections share that range. A thread that has used
-- its range stops (the run is then shorter than -d, and its duration says so). done()
-- prints one JSON line: answers counted here (2xx and others), the measured duration, and
-- wrk's latency percentiles.

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clock, bench_timespec *now);
]]
local CLOCK_MONOTONIC = 1

local function now()
  local t = ffi.new("bench_timespec")
  ffi.C.clock_gettime(CLOCK_MONOTONIC, t)
  return tonumber(t.tv_sec) + tonumber(t.tv_nsec) * 1e-9
end

local threads = {}

function setup(thread)
  thread:set("index", #threads)
  table.insert(threads, thread)
end

function init(args)
  local span = tonumber(args[4])
  per_request = tonumber(args[5])
  tag = args[2]
  next_n = tonumber(args[3]) + index * span
  last_n = next_n + span - 1
  ok, failed, exhausted = 0, 0, false
  started, ended = 0, 0
  sample = ""
  wrk.method = "POST"
  wrk.path = "/v3/accounting/records/export-results"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. args[1]
end

function request()
  if started == 0 then
    started = now()
  end
  if next_n + per_request - 1 > last_n then
    if not exhausted then
      exhausted, ended = true, now()
      wrk.thread:stop()
    end
    -- Something harmless to send: the thread stops before its answer is counted.
    return wrk.format("GET", "/healthz", {}, nil)
  end
  local items = {}
  for n = next_n, next_n + per_request - 1 do
    items[#items + 1] = '{"accounting_record_id":"accr_' .. tag .. "_" .. n
      .. '","success":{"reference_id":"r1"}}'
  end
  next_n = next_n + per_request
  return wrk.format(nil, nil, nil, '{"results":[' .. table.concat(items, ",") .. "]}")
end

function response(status, headers, body)
  if exhausted then
    return
  end
  if status >= 200 and status < 300 then
    ok = ok + 1
  else
    failed = failed + 1
    if sample == "" then
      sample = status .. " " .. string.gsub(string.sub(body, 1, 300), '[%c"\\]', " ")
    end
  end
  ended = now()
end

function done(summary, latency, requests)
  local ok_total, failed_total, first, last, stopped, sample_any = 0, 0, nil, 0, 0, ""
  for _, thread in ipairs(threads) do
    ok_total = ok_total + thread:get("ok")
    failed_total = failed_total + thread:get("failed")
    local s, e = thread:get("started"), thread:get("ended")
    if s > 0 and (first == nil or s < first) then
      first = s
    end
    if e > last then
      last = e
    end
    if thread:get("exhausted") then
      stopped = stopped + 1
    end
    if sample_any == "" then
      sample_any = thread:get("sample")
    end
  end
  local e = summary.errors
  io.write(string.format(
    '{"ok":%d,"failed":%d,"seconds":%.6f,"threads_out_of_records":%d,'
      .. '"socket_errors":%d,"p50_ms":%.3f,"p99_ms":%.3f,"sample":"%s"}\n',
    ok_total, failed_total, first and (last - first) or 0, stopped,
    e.connect + e.read + e.write + e.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, sample_any
  ))
end
