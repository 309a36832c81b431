-- POST /v1/chat/completions with "stream": true (SSE). See common.lua for the variables.
local common = dofile((os.getenv("BENCH_WRK_DIR") or "bench/wrk") .. "/common.lua")

common.setup("/v1/chat/completions", "gpt-4o-mini", function(model, tag)
  return '{"model":"' .. model .. '","stream":true,"temperature":0,"max_tokens":64,"messages":[' ..
    '{"role":"system","content":"You are a concise assistant."},' ..
    '{"role":"user","content":"What is the capital of France? Answer in two sentences. [' .. tag .. ']"}]}'
end)
