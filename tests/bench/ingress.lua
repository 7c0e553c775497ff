-- wrk script of the ingress benchmark (tests/bench/ingress.ts). Every request is a distinct,
-- precomputed delivery read from the file named after `--`: one per line,
--   <n> TAB <path> TAB <header> TAB <value> [TAB <header> TAB <value> ...] TAB <body>
-- (signed deliveries cannot be made in Lua: the bench signs them in Node). Each thread owns one
-- connection (run with -t N -c N), so the response wrk hands to `response` is the answer to the
-- last request that thread sent: the script knows exactly which deliveries were acknowledged.

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

local reqs = {}
local ids = {}
index = 0
pending = nil
acked = 0
refused = ""
unanswered = ""
exhausted = 0

local function split(line)
  local fields = {}
  for field in string.gmatch(line, "([^\t]*)\t?") do table.insert(fields, field) end
  -- gmatch yields a last empty match after the final field
  if fields[#fields] == "" then table.remove(fields) end
  return fields
end

function init(args)
  local file = assert(io.open(args[1], "r"))
  local n = tonumber(args[2])
  local line_no = 0
  for line in file:lines() do
    if line_no % n == tid - 1 then
      local f = split(line)
      local headers = {}
      for i = 3, #f - 2, 2 do headers[f[i]] = f[i + 1] end
      table.insert(ids, f[1])
      table.insert(reqs, wrk.format("POST", f[2], headers, f[#f]))
    end
    line_no = line_no + 1
  end
  file:close()
end

function request()
  -- A request sent earlier that never got an answer (its socket failed): not acknowledged.
  if pending then unanswered = unanswered .. pending .. "," end
  index = index + 1
  if index > #reqs then
    -- Ran out of distinct deliveries: the last one again (a redelivery); reported.
    exhausted = exhausted + 1
    index = #reqs
  end
  pending = ids[index]
  return reqs[index]
end

function response(status, headers, body)
  if status >= 200 and status < 300 then
    acked = acked + 1
  else
    refused = refused .. (pending or "?") .. ":" .. status .. ","
  end
  pending = nil
end

function done(summary, latency, requests)
  local out = {}
  for _, t in ipairs(threads) do
    table.insert(out, string.format('{"tid":%d,"sent":%d,"acked":%d,"refused":"%s","unanswered":"%s","inflight":"%s","exhausted":%d}',
      t:get("tid"), t:get("index") or 0, t:get("acked") or 0, t:get("refused") or "", t:get("unanswered") or "", t:get("pending") or "", t:get("exhausted") or 0))
  end
  io.write(string.format('WRK_RESULT {"requests":%d,"durationUs":%d,"connectErrors":%d,"readErrors":%d,"writeErrors":%d,"timeouts":%d,"status":%d,"p50Us":%d,"p90Us":%d,"p99Us":%d,"maxUs":%d,"threads":[%s]}\n',
    summary.requests, summary.duration, summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout, summary.errors.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, table.concat(out, ",")))
end
