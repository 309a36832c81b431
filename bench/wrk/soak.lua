-- chat.lua at a steady, moderate rate for the RSS soak (bench/memory.py soak): each connection waits
-- BENCH_DELAY_MS (default 10) before each request. See common.lua for the other variables.
local common = dofile((os.getenv("BENCH_WRK_DIR") or "bench/wrk") .. "/common.lua")

common.setup("/v1/chat/completions", "gpt-4o-mini", function(model, tag)
  return '{"model":"' .. model .. '","temperature":0,"max_tokens":64,"messages":[' ..
    '{"role":"system","content":"You are a concise assistant."},' ..
    '{"role":"user","content":"What is the capital of France? Answer in two sentences. [' .. tag .. ']"}]}'
end)

local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "10")

function delay()
  return pause
end
