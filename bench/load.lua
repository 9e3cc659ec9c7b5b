-- The load generator for `npm run bench`: wrk (C, epoll) in its own process, keep-alive
-- connections for a fixed duration, every mutation with its own Idempotency-Key. wrk spends
-- a fraction of the CPU a Node.js generator would on this machine's two cores, which the
-- server, PostgreSQL and pgbench share.
--
-- Usage: SCENARIO=<scenario> wrk -t2 -c64 -d15s -s bench/load.lua <url> -- <wallets file>
--   SCENARIO: debit-uniform | debit-hot | pending-confirm | create-wallet | get-wallet |
--     summary | list-wallets | list-wallets-deep (DEEP_CURSOR) | list-wallets-deep-100
--     (DEEP_CURSOR_100) | holds-of-wallet | transactions-of-wallet | transactions-deep
--     (DEEP_TX_CURSOR) | transactions-deep-100 (DEEP_TX_CURSOR_100) | replay (REPLAY_KEYS, REPLAY_PREFIX) |
--     bulk-debit | bulk-debit-atomic (POST /bulk with BULK_SIZE keyed debits, default 100,
--     each on a random funded wallet; not atomic / atomic) (an
--     environment variable: wrk decides whether to read response bodies from the script as
--     loaded, before `init` sees the arguments)
--   wallets file: the hot wallet's id on the first line, then one funded wallet id per line.
-- Prints one JSON line when done.
-- BENCH_TOKEN (environment): a bearer token sent on every request, for a server with auth on.

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

local scenario = os.getenv("SCENARIO")
local bulkSize = tonumber(os.getenv("BULK_SIZE") or "100")
local isBulk = scenario == "bulk-debit" or scenario == "bulk-debit-atomic"
local token = os.getenv("BENCH_TOKEN")
local authorization = token and token ~= "" and ("Bearer " .. token) or nil

-- wrk.format with the bearer token added, when there is one.
local function format(method, path, headers, body)
  headers = headers or {}
  if authorization then headers["Authorization"] = authorization end
  return wrk.format(method, path, headers, body)
end
local hot, wallets, prefix, sequence, holds

function init(args)
  wallets = {}
  for line in io.lines(args[1]) do
    if hot == nil then hot = line else table.insert(wallets, line) end
  end
  math.randomseed(os.time() * 1000 + tid)
  prefix = string.format("%x-%d-", math.random(0, 0x7fffffff), tid)
  sequence = 0
  holds = {}
end

local function key()
  sequence = sequence + 1
  return prefix .. sequence
end

local function pick()
  return wallets[math.random(#wallets)]
end

local json = "application/json"

-- One POST /bulk body: bulkSize keyed debits of 1 on random funded wallets.
local function bulkBody(atomic)
  local operations = {}
  for i = 1, bulkSize do
    operations[i] = '{"action":"DEBIT_WALLET","ik":"' .. key() .. '","data":{"walletID":"' .. pick() .. '","amount":{"asset":"USD/2","amount":1}}}'
  end
  return '{"atomic":' .. (atomic and "true" or "false") .. ',"operations":[' .. table.concat(operations, ",") .. "]}"
end
local debit = '{"amount":{"asset":"USD/2","amount":1}}'
local pending = '{"amount":{"asset":"USD/2","amount":1},"pending":true}'

function request()
  if scenario == "debit-uniform" then
    return format("POST", "/wallets/" .. pick() .. "/debit", { ["Content-Type"] = json, ["Idempotency-Key"] = key() }, debit)
  elseif scenario == "debit-hot" then
    return format("POST", "/wallets/" .. hot .. "/debit", { ["Content-Type"] = json, ["Idempotency-Key"] = key() }, debit)
  elseif scenario == "pending-confirm" then
    -- A hold made by a pending debit is confirmed by the next request this thread sends.
    local hold = table.remove(holds)
    if hold ~= nil then
      return format("POST", "/holds/" .. hold .. "/confirm", { ["Idempotency-Key"] = key() })
    end
    return format("POST", "/wallets/" .. pick() .. "/debit", { ["Content-Type"] = json, ["Idempotency-Key"] = key() }, pending)
  elseif scenario == "create-wallet" then
    return format("POST", "/wallets", { ["Content-Type"] = json, ["Idempotency-Key"] = key() }, '{"name":"bench"}')
  elseif scenario == "get-wallet" then
    return format("GET", "/wallets/" .. pick())
  elseif scenario == "summary" then
    return format("GET", "/wallets/" .. pick() .. "/summary")
  elseif scenario == "list-wallets" then
    return format("GET", "/wallets")
  elseif scenario == "list-wallets-deep" then
    return format("GET", "/wallets?cursor=" .. os.getenv("DEEP_CURSOR"))
  elseif scenario == "list-wallets-deep-100" then
    return format("GET", "/wallets?cursor=" .. os.getenv("DEEP_CURSOR_100"))
  elseif scenario == "holds-of-wallet" then
    return format("GET", "/holds?walletID=" .. pick())
  elseif scenario == "transactions-of-wallet" then
    return format("GET", "/transactions?walletID=" .. pick())
  elseif scenario == "transactions-deep" then
    return format("GET", "/transactions?cursor=" .. os.getenv("DEEP_TX_CURSOR"))
  elseif scenario == "transactions-deep-100" then
    return format("GET", "/transactions?cursor=" .. os.getenv("DEEP_TX_CURSOR_100"))
  elseif scenario == "replay" then
    -- Keys <REPLAY_PREFIX>1..<REPLAY_PREFIX>N were stored by the bench, key n as a debit of wallets[n].
    local n = math.random(tonumber(os.getenv("REPLAY_KEYS")))
    return format("POST", "/wallets/" .. wallets[n] .. "/debit", { ["Content-Type"] = json, ["Idempotency-Key"] = os.getenv("REPLAY_PREFIX") .. n }, debit)
  elseif isBulk then
    return format("POST", "/bulk", { ["Content-Type"] = json }, bulkBody(scenario == "bulk-debit-atomic"))
  end
  error("unknown scenario " .. tostring(scenario))
end

-- Keeps the id of each hold a pending debit made (201), for a later confirm. Defined only for
-- this scenario: wrk reads response bodies only when the script has a `response` function.
if scenario == "pending-confirm" then
  function response(status, headers, body)
    if status == 201 then
      local hold = string.match(body, '"id":"([^"]+)"')
      if hold ~= nil then table.insert(holds, hold) end
    end
  end
end

-- A bulk answer is 200 whatever its items say: count the refused items (an "errorCode" in the body).
itemErrors = 0
if isBulk then
  function response(status, headers, body)
    if status == 200 then
      local _, count = string.gsub(body, '"errorCode"', "")
      itemErrors = itemErrors + count
    end
  end
end

function done(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout
  local refused = 0
  for _, thread in ipairs(threads) do refused = refused + (thread:get("itemErrors") or 0) end
  io.write(string.format(
    '{"requests":%d,"durationUs":%d,"errors":%d,"non2xx":%d,"itemErrors":%d,"latencyP50Ms":%.2f,"latencyP99Ms":%.2f}\n',
    summary.requests, summary.duration, errors + refused, summary.errors.status, refused,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
