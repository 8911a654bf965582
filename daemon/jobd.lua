#!lua name=jobd_v7
--
-- jobd.lua: the Redis function library of jobd.  Every job state change is
-- one FCALL of one of these functions, so it is atomic across any number of
-- daemons sharing the Redis.  Key schema and state machine:
-- docs/architecture.md, "Redis key schema and state machine".
--
-- VERSIONS (docs/architecture.md, "Versions and rolling upgrades"):
-- * The library version is the N of the name jobd_v<N> on the first line
--   and in LIBRARY below (keep the two equal; store.c reads the first
--   line).  Every function is registered as jobd_v<N>_<name>, so daemons
--   of different versions sharing a Redis each call their own functions on
--   the same keys.  If you change what any function takes, returns or
--   does, you must increment N (a comment-only edit need not).
-- * SCHEMA is the version of the keys and records in Redis.  If you change
--   them so that a daemon of the previous version would misread what this
--   one writes, or this one would misread what the previous wrote, you
--   must increment SCHEMA (and N).  Daemons refuse a namespace whose
--   stored schema differs from theirs, so such an upgrade stops every old
--   daemon first.  A new optional field or key that older code ignores and
--   newer code does without is not a schema change.
--
-- Calling convention of every function:
--   KEYS[1] = '<prefix>:{<ns>}:meta' (the one declared key: it fixes the slot)
--   ARGV[1] = '<prefix>:{<ns>}:'     (all other keys are built from it)
--   ARGV[2] = configured result_ttl (s), ARGV[3] = failure_ttl (s): used to
--             trim the terminal indexes by score
--   ARGV[4..] the function's own arguments.
-- Errors are returned (never raised) as 'CODE <job_id|-> <message>' with
-- CODE one of NOT_FOUND, CONFLICT, LOST, BAD_REQUEST, and always before the
-- first write: functions do not roll back.
--
-- A job record is one STRING key holding a MessagePack map of string
-- fields (see RECORD below): one key and one allocation per job whatever
-- Redis's hash encoding limits are, which keeps a queued 200-byte job near
-- 500 bytes of Redis memory.  Fields that are empty, zero or the default
-- are absent.  Ready queues are LISTs (FIFO; a job put back in front is
-- LPUSHed).
--
-- All times are Unix milliseconds of the Redis clock (TIME).

local LIBRARY = 'jobd_v7'   -- the name on the first line
local SCHEMA = 1            -- the key schema this library reads and writes

local PROMOTE_MAX = 100     -- due scheduled jobs moved per call
local ERRORS_KEPT = 5       -- error history of a job
local ERROR_MAX = 4096      -- bytes of one error text kept
local SKIP_MAX = 16         -- stale queue entries skipped per queue
local LIST_SCAN_MAX = 20000 -- ids examined by a list with a type filter
local HOSTS_MAX = 1000      -- hosts reported by stats
local ACTIVE_MAX = 10000    -- running jobs examined by stats and list
local PUSH_MAX = 1000       -- ids per RPUSH (unpack's stack limit)
local SCORE_MAX = 2 ^ 53    -- the largest score list's merge bisects over
local MEMO_MS = 1000        -- longest a memo below is trusted
local HANDOFF_MAX = 100     -- jobs one take moves to holding lists

local TERMINAL = { finished = true, failed = true, canceled = true }
local STATUSES = { 'started', 'queued', 'scheduled', 'deferred', 'finished',
                   'failed', 'canceled' }
local VALID_STATUS = { queued = true, scheduled = true, started = true,
                       finished = true, failed = true, canceled = true,
                       deferred = true }

-- RECORD: type queue payload meta timeout_ms max_retries created_at
-- enqueued_at status run_at attempts lost result_ttl failure_ttl
-- unique_key started_at ended_at starts token owner progress result error
-- errors cancel watch deps deps_left on_dep batch.  list returns every
-- field but these:
local LIST_SKIP = { payload = true, result = true, starts = true,
                    token = true, watch = true }
-- and result (the op) leaves out:
local RESULT_SKIP = { payload = true }
-- Fields read without decoding the record (see peek).
local NO_FIELDS = {}
local TYPE_FIELDS = { type = true }
local RUNNING_FIELDS = { status = true, queue = true }
local WATCH_FIELDS = { status = true, watch = true }
local ENQUEUED_FIELDS = { enqueued_at = true }
-- First bytes of a MessagePack map: what a record starts with.
local MAP_FIRST = { [0xde] = true, [0xdf] = true }
for b = 0x80, 0x8f do MAP_FIRST[b] = true end

local function err(code, id, msg)
	return redis.error_reply(code .. ' ' .. (id or '-') .. ' ' .. msg)
end

-- An integer as text.  tostring() and number arguments of redis.call go
-- through printf's floating-point path, several times slower.
local function int_s(n) return string.format('%d', n) end

local function context(keys, args)
	local t = redis.call('TIME')
	local K = args[1]
	local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
	return {
		K = K,
		meta = keys[1],
		rttl = tonumber(args[2]) or 0,
		fttl = tonumber(args[3]) or 0,
		now = now,
		now_s = int_s(now),
		wake = false,
	}
end

local function jkey(c, id) return c.K .. 'job:' .. id end
local function qkey(c, q) return c.K .. 'q:' .. q end
-- The holding list of type t in queue q (queue names have no ':').
local function hkey(c, q, t) return c.K .. 'q:' .. q .. ':t:' .. t end
local function ikey(c, status, q)
	return c.K .. 'i:' .. status .. ':' .. q
end

-- The record at key k as a table and as stored, or nil: absent, or not a
-- record (then logged: a record jobd cannot read is treated as gone, not
-- as an error that would stop every call that meets it).
local function load_key(k)
	local raw = redis.call('GET', k)
	if not raw then return nil end
	local ok, j = pcall(cmsgpack.unpack, raw)
	if ok and type(j) == 'table' then return j, raw end
	redis.log(redis.LOG_WARNING, 'jobd: unreadable job record ' .. k)
	return nil
end

local function load(c, id) return load_key(jkey(c, id)) end

-- Write the record; ttl > 0 sets its expiry, anything else clears it
-- (only finished, failed and canceled jobs expire).  Returns what it
-- stored.
local function save(c, id, j, ttl)
	local raw = cmsgpack.pack(j)
	if ttl and ttl > 0 then
		redis.call('SET', jkey(c, id), raw, 'EX', int_s(ttl))
	else
		redis.call('SET', jkey(c, id), raw)
	end
	return raw
end

-- Reading a record without decoding it whole.  A job's payload and result
-- may be megabytes: GET copies all of them into Lua and cmsgpack.unpack
-- copies each field again, which lets list, stats and a type scan cost
-- Redis in proportion to the payloads they do not return.  Here a record
-- is read through a window of its bytes (GETRANGE), every value is skipped
-- by the length in its MessagePack header, and only the fields asked for
-- are copied.
local WINDOW = 4096         -- bytes read at a time from a large record

-- A reader of the record at key k, or nil if there is none.
local function rd_open(k)
	local n = redis.call('STRLEN', k)
	if n == 0 then return nil end
	local r = { k = k, n = n, base = 1, buf = '' }
	if n <= WINDOW then r.buf = redis.call('GET', k) end
	return r
end

-- Bytes p..p+len-1 (from 1) of r's record, or nil past its end.
local function rd_bytes(r, p, len)
	if len <= 0 then return '' end
	if p + len - 1 > r.n then return nil end
	if p < r.base or p + len > r.base + #r.buf then
		r.buf = redis.call('GETRANGE', r.k, p - 1,
		                   p - 2 + math.max(len, WINDOW))
		r.base = p
	end
	return string.sub(r.buf, p - r.base + 1, p - r.base + len)
end

-- A big-endian unsigned integer of len bytes at p.
local function rd_uint(r, p, len)
	local s = rd_bytes(r, p, len)
	if not s then return nil end
	local v = 0
	for i = 1, len do v = v * 256 + string.byte(s, i) end
	return v
end

-- MessagePack headers by first byte: kind ('raw': len bytes follow,
-- 'arr', 'map': len elements or pairs follow), the size of the length
-- field after the byte, and the length when it is fixed (ext: its type
-- byte counted in).  fix* ranges are filled below.
local MP = {
	[0xc0] = { 'raw', 0, 0 }, [0xc2] = { 'raw', 0, 0 },
	[0xc3] = { 'raw', 0, 0 },
	[0xc4] = { 'raw', 1 }, [0xc5] = { 'raw', 2 }, [0xc6] = { 'raw', 4 },
	[0xc7] = { 'raw', 1, 1 }, [0xc8] = { 'raw', 2, 1 },
	[0xc9] = { 'raw', 4, 1 },
	[0xca] = { 'raw', 0, 4 }, [0xcb] = { 'raw', 0, 8 },
	[0xcc] = { 'raw', 0, 1 }, [0xcd] = { 'raw', 0, 2 },
	[0xce] = { 'raw', 0, 4 }, [0xcf] = { 'raw', 0, 8 },
	[0xd0] = { 'raw', 0, 1 }, [0xd1] = { 'raw', 0, 2 },
	[0xd2] = { 'raw', 0, 4 }, [0xd3] = { 'raw', 0, 8 },
	[0xd4] = { 'raw', 0, 2 }, [0xd5] = { 'raw', 0, 3 },
	[0xd6] = { 'raw', 0, 5 }, [0xd7] = { 'raw', 0, 9 },
	[0xd8] = { 'raw', 0, 17 },
	[0xd9] = { 'raw', 1 }, [0xda] = { 'raw', 2 }, [0xdb] = { 'raw', 4 },
	[0xdc] = { 'arr', 2 }, [0xdd] = { 'arr', 4 },
	[0xde] = { 'map', 2 }, [0xdf] = { 'map', 4 },
}
for b = 0x00, 0x7f do MP[b] = { 'raw', 0, 0 } end
for b = 0xe0, 0xff do MP[b] = { 'raw', 0, 0 } end
for b = 0x80, 0x8f do MP[b] = { 'map', 0, b - 0x80 } end
for b = 0x90, 0x9f do MP[b] = { 'arr', 0, b - 0x90 } end
for b = 0xa0, 0xbf do MP[b] = { 'raw', 0, b - 0xa0 } end

-- The header at p: kind, length (see MP) and header size; nil if invalid.
local function mp_head(r, p)
	local s = rd_bytes(r, p, 1)
	local h = s and MP[string.byte(s)]
	if not h then return nil end
	local len = (h[3] or 0)
	if h[2] > 0 then
		local v = rd_uint(r, p + 1, h[2])
		if not v then return nil end
		len = len + v
	end
	return h[1], len, 1 + h[2]
end

-- The position after the value at p, nil if the record ends before it.
local function mp_skip(r, p)
	local kind, len, hl = mp_head(r, p)
	if not kind then return nil end
	p = p + hl
	if kind == 'raw' then
		if p + len - 1 > r.n then return nil end
		return p + len
	end
	if kind == 'map' then len = len * 2 end
	for _ = 1, len do
		p = mp_skip(r, p)
		if not p then return nil end
	end
	return p
end

-- Walk the record's map: each(name, entry start, value start, end) for
-- every field.  false if r is not a readable record.
local function rd_walk(r, each)
	local kind, n, p = mp_head(r, 1)
	if kind ~= 'map' then return false end
	p = p + 1
	for _ = 1, n do
		local kk, klen, khl = mp_head(r, p)
		if kk ~= 'raw' then return false end
		local name = rd_bytes(r, p + khl, klen)
		local vs = p + khl + klen
		local e = name and mp_skip(r, vs)
		if not e then return false end
		each(name, p, vs, e)
		p = e
	end
	return true
end

-- Fields names (a set) of the record at key k as a table, and the record
-- as stored without the fields in skip (a set, or nil: no record out); nil
-- if there is no readable record (logged, as load_key).
local function peek(k, names, skip)
	local r = rd_open(k)
	if not r then return nil end
	if r.n <= WINDOW then
		-- small (most records): cmsgpack, in C, is quicker than a walk
		local ok, j = pcall(cmsgpack.unpack, r.buf)
		if not ok or type(j) ~= 'table' then
			redis.log(redis.LOG_WARNING, 'jobd: unreadable job record ' .. k)
			return nil
		end
		if not skip then return j end
		for f in pairs(skip) do j[f] = nil end
		return j, cmsgpack.pack(j)
	end
	local j, parts, kept = {}, {}, 0
	local ok = rd_walk(r, function(name, ks, vs, e)
		if names[name] then
			local ok, v = pcall(cmsgpack.unpack, rd_bytes(r, vs, e - vs))
			if ok then j[name] = v end
		end
		if skip and not skip[name] then
			kept = kept + 1
			parts[kept] = rd_bytes(r, ks, e - ks)
		end
	end)
	if not ok then
		redis.log(redis.LOG_WARNING, 'jobd: unreadable job record ' .. k)
		return nil
	end
	if not skip then return j end
	if kept < 16 then
		table.insert(parts, 1, string.char(0x80 + kept))
	else
		table.insert(parts, 1, string.char(0xde, math.floor(kept / 256),
		                                   kept % 256))
	end
	return j, table.concat(parts)
end

local function num(v) return tonumber(v) or 0 end

local function set_of(list)
	local s = {}
	for _, v in ipairs(list) do s[v] = true end
	return s
end

-- Memos in this Redis's Lua state, per namespace, that let the hot calls
-- skip a read (each redis.call costs more than the command it runs): when
-- the next scheduled job can be due, which queues are paused, which are
-- known, which were found empty, which have holding lists.  They live
-- while the library is loaded (a
-- restart, a failover or FUNCTION LOAD starts them empty); these functions
-- keep them exact, and each is read again after MEMO_MS so that a change
-- made behind their back (FLUSHALL, a hand edit) is seen within that time.
local memo_due, memo_paused, memo_queues, memo_empty = {}, {}, {}, {}
local memo_held = {}

local function memo_fresh(c, m)
	return m ~= nil and c.now < m.exp and c.now >= m.exp - MEMO_MS
end

-- The namespace's set in a memo of sets, started empty when stale.
local function memo_set(c, memo)
	local m = memo[c.K]
	if not memo_fresh(c, m) then
		m = { set = {}, exp = c.now + MEMO_MS }
		memo[c.K] = m
	end
	return m.set
end

-- The namespace's paused queues as a set.
local function paused_set(c)
	local m = memo_paused[c.K]
	if not memo_fresh(c, m) then
		m = { set = set_of(redis.call('SMEMBERS', c.K .. 'paused')),
		      exp = c.now + MEMO_MS }
		memo_paused[c.K] = m
	end
	return m.set
end

-- The queues an LPOP found empty since, as a set.  Every push to a queue
-- is push() below, which strikes the queue off: a take skips the LPOP of a
-- queue that is empty (the high-priority one, mostly) without missing a
-- job.
local function empty_set(c) return memo_set(c, memo_empty) end

-- Add q to the known queues (stats and list find queues there).
local function note_queue(c, q)
	local set = memo_set(c, memo_queues)
	if not set[q] then
		redis.call('SADD', c.K .. 'queues', q)
		set[q] = true
	end
end

-- Mixed fleets: daemons sharing a Redis may serve different job types.
-- A take names the types its caller serves (' a b c '; '*' first: any); a
-- job of another type it pops is moved at once, record untouched and no
-- attempt counted, to its holding list q:<queue>:t:<type>, and the type
-- added to the SET held:<queue>.  A take serving the type pops the
-- holding lists of its types in that queue (older jobs) before the queue.

-- Whether the served types sv cover type t.  A record without a type is
-- taken (and fails where it runs), as before.
local function serves(sv, t)
	if not t or not sv or string.byte(sv, 1) == 42 then return true end -- '*'
	return string.find(sv, ' ' .. t .. ' ', 1, true) ~= nil
end

-- The types with a holding list in queue q, as a set.  Takes add to it;
-- a take that finds a list empty strikes its type off (and SREMs it).
local function held_set(c, q)
	local m = memo_set(c, memo_held)
	local s = m[q]
	if not s then
		s = set_of(redis.call('SMEMBERS', c.K .. 'held:' .. q))
		m[q] = s
	end
	return s
end

-- Every id held in queue q (for list, stats, cancel): {{type, key}, ...}.
local function held_lists(c, q)
	local out = {}
	local types = redis.call('SMEMBERS', c.K .. 'held:' .. q)
	table.sort(types)
	for _, t in ipairs(types) do out[#out + 1] = { t, hkey(c, q, t) } end
	return out
end

-- Wake the idle workers that serve type t (they also block on wake:<t>),
-- once per call.
local function wake_type(c, t)
	c.woke = c.woke or {}
	if not c.woke[t] then
		redis.call('ZADD', c.K .. 'wake:' .. t, 0, 'w')
		c.woke[t] = true
	end
end

-- Move a popped job of a type the taker does not serve to its holding
-- list (at the back: the holding list keeps the queue's order).
local function hand_off(c, q, t, id)
	redis.call('RPUSH', hkey(c, q, t), id)
	local s = held_set(c, q)
	if not s[t] then
		redis.call('SADD', c.K .. 'held:' .. q, t)
		s[t] = true
	end
	wake_type(c, t)
end

-- The opening of the functions that act on one job, ARGV[4]: the context,
-- the job's record and its stored bytes, or nil and a NOT_FOUND reply.
local function job_of(keys, args)
	local c = context(keys, args)
	local j, raw = load(c, args[4])
	if not j then return nil, err('NOT_FOUND', args[4], 'no such job') end
	return c, j, raw
end

-- Publish on one of the namespace's channels: 'events' (cancel requests,
-- every master listens) or 'ends' (the end of a job a client waits for:
-- see watch).  In a Redis Cluster the daemons set meta's pubsub to
-- 'shard': sharded pub/sub stays on the namespace's slot instead of
-- crossing the whole cluster bus.
local function publish(c, channel, msg)
	if redis.call('HGET', c.meta, 'pubsub') == 'shard' then
		redis.call('SPUBLISH', c.K .. channel, msg)
	else
		redis.call('PUBLISH', c.K .. channel, msg)
	end
end

-- Put ids (saved as queued) at the back, or the front, of queue q.
local function push(c, q, ids, front)
	local cmd = front and 'LPUSH' or 'RPUSH'
	for i = 1, #ids, PUSH_MAX do
		redis.call(cmd, qkey(c, q),
		           unpack(ids, i, math.min(i + PUSH_MAX - 1, #ids)))
	end
	local m = memo_empty[c.K]
	if m then m.set[q] = nil end
	-- Workers skip a paused queue: waking one for it is wasted work.
	if not paused_set(c)[q] then c.wake = true end
end

-- Put the job at the back (or the front) of its queue and save it.
local function enqueue(c, id, j, front)
	j.status = 'queued'
	j.enqueued_at = c.now_s
	j.run_at = nil
	save(c, id, j)
	push(c, j.queue, { id }, front)
end

local function schedule(c, id, j, at)
	j.status = 'scheduled'
	j.run_at = int_s(at)
	save(c, id, j)
	redis.call('ZADD', c.K .. 'scheduled', j.run_at, id)
	redis.call('ZADD', ikey(c, 'scheduled', j.queue), j.run_at, id)
	local m = memo_due[c.K]
	if m and at < m.at then m.at = at end
end

-- Arm the wake marker that idle workers BZPOPMIN on.
local function arm(c)
	if c.wake then
		redis.call('ZADD', c.K .. 'wake', 0, 'w')
	end
end

local function trim(c, key, ttl)
	if ttl > 0 then
		redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. (c.now - ttl * 1000))
	end
end

-- Drop the ids of expired records from the terminal indexes (the records
-- themselves expire by TTL).  Done by reap and stats, not per job.
local function trim_indexes(c)
	local queues = redis.call('SMEMBERS', c.K .. 'queues')
	for _, st in ipairs({ 'finished', 'failed', 'canceled' }) do
		local ttl = c.fttl
		if st == 'finished' then ttl = c.rttl end
		for _, q in ipairs(queues) do
			trim(c, ikey(c, st, q), ttl)
		end
		-- An index across queues, which earlier builds kept: no longer
		-- read or trimmed, so dropped.
		redis.call('UNLINK', c.K .. 'i:' .. st)
	end
end

-- Release the job's unique key if it still holds it.
local function release_unique(c, id, ukey)
	if ukey and ukey ~= '' then
		local k = c.K .. 'unique:' .. ukey
		if redis.call('GET', k) == id then
			redis.call('DEL', k)
		end
	end
end

-- ---- Callbacks (callback_url) ---------------------------------------------
-- A job submitted with callback_url carries what its delivery needs
-- (hook_queue, hook_timeout_ms, hook_retries: the master's jobd.webhook
-- type at submit).  Its end, in the same call, queues one delivery job of
-- type jobd.webhook, id hook:<ended_at ms>:<job id> (the id's SHA-1 when
-- that would pass 128 bytes): the body is built here, so that what is
-- signed and sent is exactly the job's end; the worker signs and POSTs it
-- and its retries are the type's.  A job requeued and ended again gets a
-- delivery of its new end.
local function hook_deliver(c, id, j, status)
	local body = '{"job_id":' .. cjson.encode(id) .. ',"status":"' ..
		status .. '"'
	if status == 'finished' then
		body = body .. ',"result":' .. (j.result or 'null') .. '}'
	else
		body = body .. ',"error":' .. cjson.encode(j.error or status) .. '}'
	end
	local hid = 'hook:' .. c.now_s .. ':' .. id
	if #hid > 128 then hid = 'hook:' .. c.now_s .. ':' .. redis.sha1hex(id) end
	if redis.call('EXISTS', jkey(c, hid)) == 1 then return end
	local q = j.hook_queue or j.queue
	local d = { type = 'jobd.webhook', queue = q, created_at = c.now_s,
		payload = cjson.encode({ url = j.callback_url, body = body,
		                         job_id = id }),
		timeout_ms = j.hook_timeout_ms, max_retries = j.hook_retries }
	note_queue(c, q)
	enqueue(c, hid, d, false)
	arm(c)
end
-- Workflows (dependencies, batches): defined in their block below.
local wf_finalize, wf_check, wf_submit, wf_requeued, wf_gone

-- Move a job to a terminal status: save with its TTL, index, unique key,
-- end event.
local function finalize(c, id, j, status)
	wf_finalize(c, id, j, status)
	j.status = status
	j.ended_at = c.now_s
	local ttl
	if status == 'finished' then
		ttl = tonumber(j.result_ttl) or c.rttl
	else
		ttl = tonumber(j.failure_ttl) or c.fttl
	end
	save(c, id, j, ttl)
	redis.call('ZADD', ikey(c, status, j.queue), c.now_s, id)
	release_unique(c, id, j.unique_key)
	if j.watch then
		publish(c, 'ends', 'end ' .. id .. ' ' .. status)
	end
	if j.callback_url then hook_deliver(c, id, j, status) end
end

-- Append one entry to the job's error history (last ERRORS_KEPT).
local function add_error(c, j, attempt, text)
	text = string.sub(text or '', 1, ERROR_MAX)
	local hist = {}
	if j.errors then
		local ok, v = pcall(cjson.decode, j.errors)
		if ok and type(v) == 'table' then hist = v end
	end
	hist[#hist + 1] = { attempt = tonumber(attempt) or 0, error = text,
	                    at = c.now }
	while #hist > ERRORS_KEPT do table.remove(hist, 1) end
	j.error = text
	j.errors = cjson.encode(hist)
end

-- Move due scheduled jobs (at most max) to the back of their queues.
-- Skipped while the memo says none can be due yet.
local function promote(c, max)
	local m = memo_due[c.K]
	if memo_fresh(c, m) and c.now < m.at then return 0 end
	local sk = c.K .. 'scheduled'
	local due = redis.call('ZRANGEBYSCORE', sk, '-inf', c.now, 'LIMIT', 0, max)
	for _, id in ipairs(due) do
		redis.call('ZREM', sk, id)
		local j = load(c, id)
		if j and j.status == 'scheduled' then
			redis.call('ZREM', ikey(c, 'scheduled', j.queue), id)
			enqueue(c, id, j, false)
		end
	end
	local nxt = redis.call('ZRANGE', sk, 0, 0, 'WITHSCORES')
	local at = c.now + MEMO_MS
	if nxt[2] and tonumber(nxt[2]) < at then at = tonumber(nxt[2]) end
	memo_due[c.K] = { at = at, exp = c.now + MEMO_MS }
	return #due
end

---------------------------------------------------------------------------
-- Limits (docs/jobd.md, "Limits"; keys in docs/architecture.md).
-- A job of a type that names a [limit:NAME] carries the limit in its
-- record, packed by the daemon that accepted it: limit (NAME), limit_key
-- (optional: a budget of its own per key), limit_conc (jobs of the budget
-- started at once, 0: no bound), limit_every (ms between two starts at
-- the steady rate, 0: no rate) and limit_burst (starts allowed at once).
-- A budget B is NAME or NAME:KEY (limit names have no ':'):
--   limit:NAME:run[:KEY]   ZSET  ids holding a slot -> start time
--   limit:NAME:park[:KEY]  LIST  parked ids, oldest first (status queued)
--   limit:NAME:tat[:KEY]   STRING GCRA theoretical arrival time (ms), PX
--   limit:NAME:keys        SET   keys with state (limits op, list)
--   limits                 SET   limit names seen
--   limit:due              ZSET  B -> when one parked job of B goes back
-- A job taken over its limit is parked: off its queue, no attempt
-- counted, no polling.  One parked job goes back to the front of its queue
-- when a slot of its budget frees (every path that ZREMs active calls
-- limit_release) or when limit:due says a token is due (limit_promote, run
-- by every take and reap); the take checks it again.  A slot is never a
-- counter: a holder whose lease is gone is dropped when the budget is
-- found full (lim_heal), and a budget parked for concurrency also gets a
-- due entry one lease later, so that nothing can park it for ever.

local LIMIT_HEAL_MAX = 10   -- slot holders checked when a budget is full
local LIMIT_KEYS_MAX = 1000 -- keys of one limit examined by limits, list
local memo_limits, memo_ldue = {}, {}

local function lkey(c, name, key, kind)
	local k = c.K .. 'limit:' .. name .. ':' .. kind
	if key then k = k .. ':' .. key end
	return k
end

local function lim_budget(name, key)
	if key then return name .. ':' .. key end
	return name
end

-- Note the budget in the registries (once a MEMO_MS per budget).
local function lim_note(c, name, key)
	local s = memo_set(c, memo_limits)
	local b = lim_budget(name, key) .. '\n'
	if not s[b] then
		redis.call('SADD', c.K .. 'limits', name)
		if key then redis.call('SADD', lkey(c, name, nil, 'keys'), key) end
		s[b] = true
	end
end

-- One parked job of budget B goes back at time at (the earliest asked).
local function lim_due(c, b, at)
	redis.call('ZADD', c.K .. 'limit:due', 'LT', int_s(at), b)
	local m = memo_ldue[c.K]
	if m then
		m.any = true
		if at < m.at then m.at = at end
	end
end

local function lim_park(c, id, name, key, at)
	redis.call('RPUSH', lkey(c, name, key, 'park'), id)
	if at then lim_due(c, lim_budget(name, key), at) end
	return false
end

-- Drop the slot holders (oldest first, LIMIT_HEAL_MAX) no longer running:
-- the slots of a holder lost without a release.  Returns the slots held.
local function lim_heal(c, rk)
	for _, id in ipairs(redis.call('ZRANGE', rk, 0, LIMIT_HEAL_MAX - 1)) do
		if not redis.call('ZSCORE', c.K .. 'active', id) then
			redis.call('ZREM', rk, id)
		end
	end
	return redis.call('ZCARD', rk)
end

-- Whether job id (record j, just popped, queued) may start now; if not it
-- is parked and false returned.  A job without a limit costs one lookup.
local function limit_admit(c, id, j, lease_ms)
	local name = j.limit
	if not name then return true end
	local key = j.limit_key
	lim_note(c, name, key)
	local conc = num(j.limit_conc)
	local rk = lkey(c, name, key, 'run')
	if conc > 0 and redis.call('ZCARD', rk) >= conc and
	   lim_heal(c, rk) >= conc then
		return lim_park(c, id, name, key, c.now + lease_ms)
	end
	local every = num(j.limit_every)
	if every > 0 then
		local tk = lkey(c, name, key, 'tat')
		local tat = math.max(num(redis.call('GET', tk)), c.now)
		local slack = (math.max(num(j.limit_burst), 1) - 1) * every
		if tat - slack > c.now then
			return lim_park(c, id, name, key, tat - slack)
		end
		tat = tat + every
		redis.call('SET', tk, int_s(tat), 'PX', int_s(tat - c.now + 1000))
		-- The next token of a budget with jobs parked brings one back.
		if redis.call('LLEN', lkey(c, name, key, 'park')) > 0 then
			lim_due(c, lim_budget(name, key), tat - slack)
		end
	end
	if conc > 0 then redis.call('ZADD', rk, c.now_s, id) end
	return true
end

-- Move up to n parked jobs of budget (name, key) to the front of their
-- queues (stale entries skipped, SKIP_MAX at most).
local function lim_unpark(c, name, key, n)
	local pk = lkey(c, name, key, 'park')
	local skips = 0
	while n > 0 and skips < SKIP_MAX do
		local id = redis.call('LPOP', pk)
		if not id then
			if key and redis.call('EXISTS', lkey(c, name, key, 'run')) == 0
			then
				redis.call('SREM', lkey(c, name, nil, 'keys'), key)
				local s = memo_limits[c.K]
				if s then s.set[lim_budget(name, key) .. '\n'] = nil end
			end
			return
		end
		local j = peek(jkey(c, id), RUNNING_FIELDS)
		if j and j.status == 'queued' and j.queue then
			push(c, j.queue, { id }, true)
			n = n - 1
		else
			skips = skips + 1
		end
	end
end

-- A job leaves 'started' (finish, fail, reap, release): its slot is freed
-- and one parked job of its budget goes back.
local function limit_release(c, id, j)
	if not j or not j.limit or num(j.limit_conc) == 0 then return end
	if redis.call('ZREM', lkey(c, j.limit, j.limit_key, 'run'), id) == 1 then
		lim_unpark(c, j.limit, j.limit_key, 1)
	end
end

-- A queued job leaves its park list (cancel).
local function limit_forget(c, id, j)
	if j.limit then
		redis.call('LREM', lkey(c, j.limit, j.limit_key, 'park'), 1, id)
	end
end

-- The due budgets of limit:due: one parked job each goes back.  Skipped
-- while the memo says none is due (one read a MEMO_MS otherwise).
local function limit_promote(c)
	local m = memo_ldue[c.K]
	if memo_fresh(c, m) and c.now < m.at then return end
	local dk = c.K .. 'limit:due'
	local due = redis.call('ZRANGEBYSCORE', dk, '-inf', c.now_s, 'LIMIT', 0,
	                       PROMOTE_MAX)
	for _, b in ipairs(due) do
		redis.call('ZREM', dk, b)
		local i = string.find(b, ':', 1, true)
		if i then
			lim_unpark(c, string.sub(b, 1, i - 1), string.sub(b, i + 1), 1)
		else
			lim_unpark(c, b, nil, 1)
		end
	end
	local nxt = redis.call('ZRANGE', dk, 0, 0, 'WITHSCORES')
	local at = c.now + MEMO_MS
	if nxt[2] and tonumber(nxt[2]) < at then at = tonumber(nxt[2]) end
	memo_ldue[c.K] = { at = at, exp = c.now + MEMO_MS, any = nxt[2] ~= nil }
end

-- w (ms a taker would wait, -1: for ever) shortened to the next limit due.
local function limit_wait(c, w)
	local m = memo_ldue[c.K]
	if not m or not m.any then return w end
	local d = math.max(m.at - c.now, 1)
	if w < 0 or d < w then return d end
	return w
end

-- The keys of limit name with state, bounded.
local function lim_keys(c, name)
	local ks = redis.call('SRANDMEMBER', lkey(c, name, nil, 'keys'),
	                      LIMIT_KEYS_MAX)
	table.sort(ks)
	return ks
end

-- The park lists of every limit seen (list of queued jobs).
local function limit_park_lists(c)
	local out = {}
	local names = redis.call('SMEMBERS', c.K .. 'limits')
	table.sort(names)
	for _, name in ipairs(names) do
		out[#out + 1] = lkey(c, name, nil, 'park')
		for _, key in ipairs(lim_keys(c, name)) do
			out[#out + 1] = lkey(c, name, key, 'park')
		end
	end
	return out
end

-- The parked jobs a list of queued jobs shows (after the queues'): every
-- park list, or (queue named) the ids of that queue's, ACTIVE_MAX per list.
local function limit_segments(c, segs, queue)
	for _, pk in ipairs(limit_park_lists(c)) do
		if queue == '' then
			segs[#segs + 1] = { key = pk, list = true }
		else
			local ids = {}
			for _, id in ipairs(redis.call('LRANGE', pk, 0, ACTIVE_MAX - 1)) do
				local j = peek(jkey(c, id), RUNNING_FIELDS)
				if j and j.queue == queue then ids[#ids + 1] = id end
			end
			if #ids > 0 then segs[#segs + 1] = { ids = ids } end
		end
	end
end

-- The parked jobs of every limit seen, summed over its keys (stats):
-- {name, n, ...}.
local function limit_parked(c)
	local out = {}
	local names = redis.call('SMEMBERS', c.K .. 'limits')
	table.sort(names)
	for _, name in ipairs(names) do
		local n = redis.call('LLEN', lkey(c, name, nil, 'park'))
		for _, key in ipairs(lim_keys(c, name)) do
			n = n + redis.call('LLEN', lkey(c, name, key, 'park'))
		end
		out[#out + 1] = name
		out[#out + 1] = n
	end
	return out
end

-- limits: ARGV[4] n, then n groups of name concurrency every_ms burst
-- (the caller's config).  Returns JSON text: {NAME: {running, parked,
-- keys, next_at}} for the limits named and every limit seen in Redis;
-- next_at: ms time the next parked job goes back (0: none set).
local function limits(keys, args)
	local c = context(keys, args)
	local names, seen = {}, {}
	local n = tonumber(args[4]) or 0
	for k = 0, n - 1 do
		local name = args[5 + 4 * k]
		if name and not seen[name] then
			names[#names + 1] = name; seen[name] = true
		end
	end
	for _, name in ipairs(redis.call('SMEMBERS', c.K .. 'limits')) do
		if not seen[name] then names[#names + 1] = name; seen[name] = true end
	end
	local out = {}
	local dk = c.K .. 'limit:due'
	for _, name in ipairs(names) do
		local ks = lim_keys(c, name)
		local row = { running = 0, parked = 0, keys = #ks, next_at = 0 }
		local function add(key)
			row.running = row.running +
				redis.call('ZCARD', lkey(c, name, key, 'run'))
			row.parked = row.parked +
				redis.call('LLEN', lkey(c, name, key, 'park'))
			local at = tonumber(redis.call('ZSCORE', dk,
			                               lim_budget(name, key)))
			if at and (row.next_at == 0 or at < row.next_at) then
				row.next_at = at
			end
		end
		add(nil)
		for _, key in ipairs(ks) do add(key) end
		out[name] = row
	end
	if next(out) == nil then return '{}' end
	return cjson.encode(out)
end

-- Start job id (record j) for owner: returns {id, record as stored}.
local function begin(c, id, j, owner, lease_ms)
	-- The token is new for every start: the start count fences this
	-- record's earlier holders, the time the holders of an earlier job
	-- with the same id.
	local starts = num(j.starts) + 1
	j.starts = int_s(starts)
	j.token = c.now_s .. '.' .. j.starts
	j.status = 'started'
	j.attempts = int_s(num(j.attempts) + 1)
	j.started_at = c.now_s
	j.owner = owner
	local raw = save(c, id, j)
	redis.call('ZADD', c.K .. 'active', int_s(c.now + lease_ms), id)
	return { id, raw }
end

local held_turn = 0   -- rotates the first holding list a take tries

-- A job from the holding lists of queue q (types in held) that served
-- covers: id, record, type; or nil.  Stale entries: SKIP_MAX at most.
local function take_held(c, q, held, served, lease_ms)
	local types = {}
	for t in pairs(held) do
		if serves(served, t) then types[#types + 1] = t end
	end
	local n = #types
	if n == 0 then return nil end
	held_turn = held_turn + 1
	local skips = 0
	for i = 0, n - 1 do
		local t = types[(held_turn + i) % n + 1]
		local hk = hkey(c, q, t)
		while skips < SKIP_MAX do
			local id = redis.call('LPOP', hk)
			if not id then
				redis.call('SREM', c.K .. 'held:' .. q, t)
				held[t] = nil
				break
			end
			local j = load(c, id)
			if j and j.status == 'queued' and j.queue == q and
			   limit_admit(c, id, j, lease_ms) then
				return id, j, t
			end
			skips = skips + 1
		end
	end
	return nil
end

-- An idle taker's wake-up goes on to the next idle worker if a
-- non-paused queue still has jobs.
local function pass_on(c, queues, paused, empty)
	for _, q in ipairs(queues) do
		if not paused[q] and not empty[q] and
		   redis.call('LLEN', qkey(c, q)) > 0 then
			redis.call('ZADD', c.K .. 'wake', 0, 'w')
			return
		end
	end
end

-- Take the next job for owner: the oldest of the first non-empty,
-- non-paused queue in priority order, of a type in served (see serves;
-- others popped are handed off, HANDOFF_MAX per call).  Returns {id,
-- record} or the ms until the next scheduled job is due (-1: none
-- scheduled; 0 when the hand-off bound stopped it: wake is armed, the
-- caller comes back at once).  chain: the taker was idle (dequeue), so
-- it passes the wake-up on to the next idle worker if work is left; a
-- busy worker taking its next job (finish, fail) consumed no wake-up and
-- passes none on.
local function take(c, owner, lease_ms, served, queues, chain)
	promote(c, PROMOTE_MAX)
	limit_promote(c)
	local paused, empty = paused_set(c), empty_set(c)
	local moved = 0
	for _, q in ipairs(queues) do
		if not paused[q] then
			local held = held_set(c, q)
			if next(held) then
				local id, j, t = take_held(c, q, held, served, lease_ms)
				if id then
					if chain then
						if redis.call('LLEN', hkey(c, q, t)) > 0 then
							wake_type(c, t)
						end
						pass_on(c, queues, paused, empty)
					end
					return begin(c, id, j, owner, lease_ms)
				end
			end
		end
		if not paused[q] and not empty[q] then
			local qk = qkey(c, q)
			local skips = 0
			while skips < SKIP_MAX do
				local id = redis.call('LPOP', qk)
				if not id then
					empty[q] = true
					break
				end
				local j = load(c, id)
				if not j or j.status ~= 'queued' or j.queue ~= q then
					skips = skips + 1
				elseif serves(served, j.type) and
				       limit_admit(c, id, j, lease_ms) then
					if chain then pass_on(c, queues, paused, empty) end
					return begin(c, id, j, owner, lease_ms)
				else
					-- (served but over its limit: parked by limit_admit)
					if not serves(served, j.type) then
						hand_off(c, q, j.type, id)
					end
					moved = moved + 1
					if moved >= HANDOFF_MAX then
						-- Bounded work per call: the caller (or another
						-- idle worker) goes on at once.
						c.wake = true
						return 0
					end
				end
			end
		end
	end
	local nxt = redis.call('ZRANGE', c.K .. 'scheduled', 0, 0, 'WITHSCORES')
	if #nxt == 0 then return limit_wait(c, -1) end
	local w = tonumber(nxt[2]) - c.now
	if w < 0 then w = 0 end
	return limit_wait(c, w)
end

-- The optional "and take the next job" tail of finish and fail:
-- ARGV[i] = '1'|'0', then owner, lease_ms, served types, nqueues,
-- queues...
local function take_args(args, i)
	if args[i] ~= '1' then return nil end
	local owner, lease = args[i + 1], tonumber(args[i + 2])
	local served = args[i + 3]
	local n = tonumber(args[i + 4]) or 0
	local queues = {}
	for k = 1, n do queues[k] = args[i + 4 + k] end
	return owner, lease, served, queues
end

---------------------------------------------------------------------------
-- submit: ARGV[4..] one or more groups, each n then n jobs of 7 fields:
--   id queue unique_key delay_ms run_at_ms fresh record
-- ('' unique_key: none; delay_ms > 0 or run_at_ms > 0 schedules; fresh
-- '1': the daemon made the id (a ULID), so it is not looked up; record:
-- the job's record packed by the master, a MessagePack map whose header
-- counts three more fields than it holds: status, created_at, and
-- enqueued_at or run_at, which are appended here).
-- A group is one client's submit or submit_many, all or nothing; the
-- master puts the submits of one event-loop turn in one call.  Returns one
-- entry per group: {id, status, id, status, ...}, or its error.
local NF = 7

-- The checks of one group, before any of its writes: nil, or the error.
local function submit_check(c, args, b0, n)
	local ids, uniq = {}, {}
	for k = 0, n - 1 do
		local b = b0 + k * NF
		local id, ukey = args[b], args[b + 2]
		if ids[id] or (args[b + 5] ~= '1' and
		               redis.call('EXISTS', jkey(c, id)) == 1) then
			return err('CONFLICT', id, 'job id already used')
		end
		ids[id] = true
		if ukey ~= '' then
			if uniq[ukey] then
				return err('CONFLICT', uniq[ukey], 'unique key held')
			end
			local holder = redis.call('GET', c.K .. 'unique:' .. ukey)
			if holder then
				local h = load(c, holder)
				if h and not TERMINAL[h.status] then
					return err('CONFLICT', holder, 'unique key held')
				end
			end
			uniq[ukey] = id
		end
	end
	return wf_check(c, args, b0, n)
end

-- The fields jobd.lua appends to the master's packed record (three more
-- than the map header the master wrote counts), packed once per call: a
-- cmsgpack.pack costs about a microsecond, several per group added up.
-- (cmsgpack is not there while the library loads: packed on first use.)
local MP

local function submit_tail(c)
	local mp = cmsgpack.pack
	if not MP then
		MP = { queued = mp('status') .. mp('queued'),
		       scheduled = mp('status') .. mp('scheduled'),
		       created = mp('created_at'), enqueued = mp('enqueued_at'),
		       run_at = mp('run_at') }
	end
	local created = MP.created .. mp(c.now_s)
	return {
		queued = MP.queued .. created .. MP.enqueued .. mp(c.now_s),
		scheduled = MP.scheduled .. created .. MP.run_at,
	}
end

-- The writes of one group.  Queued ids are collected in ready (per queue,
-- in submit order) for one RPUSH per queue for the whole call.
local function submit_write(c, args, b0, n, ready, tail)
	local out, last_q = {}, nil
	for k = 0, n - 1 do
		local b = b0 + k * NF
		local id, q, ukey = args[b], args[b + 1], args[b + 2]
		local delay, run_at = num(args[b + 3]), num(args[b + 4])
		if ukey ~= '' then
			redis.call('SET', c.K .. 'unique:' .. ukey, id)
		end
		if q ~= last_q then
			note_queue(c, q)
			last_q = q
		end
		local at = 0
		if delay > 0 then at = c.now + delay end
		if run_at > 0 then at = run_at end
		out[#out + 1] = id
		if wf_submit(c, id, args[b + 6], tail, at, out) then
		elseif at > c.now then
			local j = cmsgpack.unpack(args[b + 6] .. tail.scheduled ..
				cmsgpack.pack(int_s(at)))
			schedule(c, id, j, at)
			out[#out + 1] = 'scheduled'
		else
			redis.call('SET', jkey(c, id), args[b + 6] .. tail.queued)
			if not ready[q] then
				ready[q] = {}
				ready[#ready + 1] = q
			end
			table.insert(ready[q], id)
			out[#out + 1] = 'queued'
		end
	end
	return out
end

---------------------------------------------------------------------------
-- Workflows: dependencies and batches (docs/protocol.md, "Dependencies"
-- and "Batches").  The shared functions call in here with one line each:
-- finalize (wf_finalize), submit_check (wf_check), submit_write
-- (wf_submit), requeue_one (wf_requeued), delete (wf_gone), reap
-- (wf_reap), stats (wf_deferred_count), cancel through finalize.
--
-- A job with depends_on is written 'deferred' (index i:deferred:<queue>)
-- with the fields deps (every parent, space-separated), deps_left (the
-- parents it still waits for), on_dep ('run' or 'hold'; absent: cancel)
-- and batch (its batch).  Its id is in the SET dep:<parent> of each
-- parent it waits for.  When a parent (a job or a batch) ends, the same
-- call resolves its children, at most WF_BUDGET per call across the
-- whole call (a child canceled there ends too, and resolves its own
-- children from the same budget); a parent with children left is noted
-- in the HASH dep:pending (parent -> outcome) and the reaper goes on.
-- A 'hold' child of a failed parent moves to dep:hold:<parent>, and the
-- parent is noted in the ZSET dep:held: when its record goes (deleted,
-- expired) those children are canceled; when it is requeued and
-- finishes they run.
--
-- A batch is the HASH batch:<id> (description, created_at, sealed_at,
-- ended_at, status, total, finished, failed, canceled, callback, watch)
-- and the SET batch:<id>:live of its jobs not yet ended.  It ends, in
-- the call that ends its last job (or seals it), when it is sealed and
-- no job is live; its callback job is deferred on the batch id with
-- on_dep 'run', so the batch's end releases it exactly once.

local WF_BUDGET = 100        -- children resolved per call
local WF_REAP_BUDGET = 500   -- children a reaper pass resolves
local WF_REAP_PARENTS = 10   -- pending fan-outs the reaper continues
local WF_HELD_CHECK = 100    -- held parents the reaper looks at per run
local WF_COUNT_MAX = 1000    -- live jobs batch_get counts by status
local WF_STATUS = { status = true }

local function dkey(c, p) return c.K .. 'dep:' .. p end
local function bkey(c, b) return c.K .. 'batch:' .. b end

-- The words of a space-separated field as a list.
local function words(s)
	local out = {}
	for w in string.gmatch(s or '', '%S+') do out[#out + 1] = w end
	return out
end

-- The status of parent p: a job's, a batch's once it ended ('open' or
-- 'running' before), or nil when there is neither.
local function wf_parent_status(c, p)
	local j = peek(jkey(c, p), WF_STATUS)
	if j then return j.status end
	local st = redis.call('HGET', bkey(c, p), 'status')
	if st then return st end
	return nil
end

local wf_resolve

-- Release child id (record j): no parent left, it goes to its queue (or
-- is scheduled, if submitted with a delay still to come).
local function wf_release(c, id, j)
	redis.call('ZREM', ikey(c, 'deferred', j.queue), id)
	j.deps_left = nil
	local at = tonumber(j.run_at)
	if at and at > c.now then
		schedule(c, id, j, at)
	else
		enqueue(c, id, j, false)
	end
end

-- One child of parent p, which ended with outcome ('finished', 'failed',
-- 'canceled', or 'gone': deleted or expired).
local function wf_child(c, p, outcome, id)
	local j = load(c, id)
	if not j or j.status ~= 'deferred' then return end   -- stale entry
	local left = ' ' .. (j.deps_left or '') .. ' '
	if not string.find(left, ' ' .. p .. ' ', 1, true) then return end
	local policy = j.on_dep or 'cancel'
	if outcome == 'finished' or policy == 'run' then
		left = string.gsub(left, ' ' .. string.gsub(p, '[%.%-]', '%%%0') ..
		                   ' ', ' ', 1)
		j.deps_left = string.match(left, '^%s*(.-)%s*$')
		if j.deps_left == '' then
			wf_release(c, id, j)
		else
			save(c, id, j)
		end
	elseif policy == 'hold' and outcome ~= 'gone' then
		redis.call('SADD', c.K .. 'dep:hold:' .. p, id)
		redis.call('ZADD', c.K .. 'dep:held', c.now_s, p)
	else
		local why = 'parent ' .. p .. ' ' .. outcome
		if outcome == 'gone' then
			why = 'parent ' .. p .. ' was deleted or expired'
		elseif outcome == 'canceled' then
			why = 'parent ' .. p .. ' was canceled'
		end
		add_error(c, j, num(j.attempts), 'dependency: ' .. why)
		finalize(c, id, j, 'canceled')
	end
end

-- Resolve the children of parent p that ended with outcome, within the
-- call's budget; what is left is noted for the reaper.
wf_resolve = function(c, p, outcome, pending)
	local sets = { dkey(c, p) }
	if outcome == 'finished' or outcome == 'gone' then
		sets[2] = c.K .. 'dep:hold:' .. p
	end
	-- Most jobs have no child: one EXISTS is all their end costs here.
	if not pending and redis.call('EXISTS', unpack(sets)) == 0 then
		return
	end
	if c.wf_budget == nil then c.wf_budget = WF_BUDGET end
	local more = false
	for _, k in ipairs(sets) do
		while true do
			if c.wf_budget <= 0 then
				more = redis.call('EXISTS', k) == 1 or more
				break
			end
			local ids = redis.call('SPOP', k, math.min(c.wf_budget, 100))
			if #ids == 0 then break end
			c.wf_budget = c.wf_budget - #ids
			for _, id in ipairs(ids) do wf_child(c, p, outcome, id) end
		end
	end
	if more then
		redis.call('HSET', c.K .. 'dep:pending', p, outcome)
	elseif pending then
		redis.call('HDEL', c.K .. 'dep:pending', p)
	end
	if outcome == 'finished' or outcome == 'gone' then
		redis.call('ZREM', c.K .. 'dep:held', p)
	end
end

-- The end of batch b if it is due: sealed, not ended, no job live.
local function wf_batch_check(c, b)
	local k = bkey(c, b)
	local h = redis.call('HMGET', k, 'sealed_at', 'ended_at', 'failed',
	                     'watch')
	if not h[1] or h[2] or redis.call('SCARD', k .. ':live') > 0 then
		return
	end
	local st = 'finished'
	if num(h[3]) > 0 then st = 'failed' end
	redis.call('HSET', k, 'status', st, 'ended_at', c.now_s)
	local ttl = c.rttl
	if st == 'failed' then ttl = c.fttl end
	if ttl > 0 then redis.call('EXPIRE', k, int_s(ttl)) end
	if h[4] then publish(c, 'ends', 'end ' .. b .. ' ' .. st) end
	wf_resolve(c, b, st)
end

-- finalize's hook: job id (record j, its old status still in j.status)
-- ends with status.
wf_finalize = function(c, id, j, status)
	if j.status == 'deferred' then
		redis.call('ZREM', ikey(c, 'deferred', j.queue), id)
	end
	if j.batch then
		local k = bkey(c, j.batch)
		if redis.call('SREM', k .. ':live', id) == 1 then
			redis.call('HINCRBY', k, status, 1)
			wf_batch_check(c, j.batch)
		end
	end
	wf_resolve(c, id, status)
end

-- requeue_one's hook: a failed or canceled job goes back to its queue,
-- and back into its batch's live jobs.
wf_requeued = function(c, id, j)
	j.deps_left = nil   -- a canceled deferred job runs when requeued
	if not j.batch then return end
	local k = bkey(c, j.batch)
	if redis.call('EXISTS', k) == 0 then return end
	if redis.call('SADD', k .. ':live', id) == 1 then
		redis.call('HINCRBY', k, j.status, -1)
		if redis.call('HEXISTS', k, 'ended_at') == 1 then
			redis.call('HDEL', k, 'ended_at')
			redis.call('HSET', k, 'status', 'running')
			redis.call('PERSIST', k)
		end
	end
end

-- delete's hook: the record of parent id goes.
wf_gone = function(c, id)
	local pend = redis.call('HGET', c.K .. 'dep:pending', id)
	if pend == 'finished' then return end   -- the reaper finishes it
	wf_resolve(c, id, 'gone', pend ~= false)
	redis.call('ZREM', c.K .. 'dep:held', id)
end

-- reap's hook: continue the fan-outs left pending, and cancel the held
-- children of parents whose record is gone (expired).
local function wf_reap(c)
	c.wf_budget = WF_REAP_BUDGET
	local pk = c.K .. 'dep:pending'
	local pend = redis.call('HRANDFIELD', pk, WF_REAP_PARENTS, 'WITHVALUES')
	for i = 1, #pend, 2 do
		wf_resolve(c, pend[i], pend[i + 1], true)
	end
	local hk = c.K .. 'dep:held'
	for _, p in ipairs(redis.call('ZRANGE', hk, 0, WF_HELD_CHECK - 1)) do
		if wf_parent_status(c, p) == nil then
			wf_resolve(c, p, 'gone')
		else
			redis.call('ZADD', hk, c.now_s, p)   -- to the back
		end
	end
end

-- stats's hook: the deferred jobs of queue q.
local function wf_deferred_count(c, q)
	return redis.call('ZCARD', ikey(c, 'deferred', q))
end

-- Whether the packed record rec has workflow fields: the master packs
-- deps, then batch, first in the map.
local function wf_flagged(rec)
	local h = 2
	if string.byte(rec, 1) == 0xde then h = 4 end
	return string.sub(rec, h, h + 4) == '\164deps' or
	       string.sub(rec, h, h + 5) == '\165batch'
end

-- submit_check's hook: the group's parents and batches, and no cycle
-- among the group's own ids.  nil or the error; notes the group's ids in
-- c.wf_ids for wf_submit.
wf_check = function(c, args, b0, n)
	c.wf_ids = nil
	local recs = {}
	for k = 0, n - 1 do
		local b = b0 + k * NF
		if wf_flagged(args[b + 6]) then
			local ok, j = pcall(cmsgpack.unpack, args[b + 6] ..
			                    string.rep('\161_\192', 3))
			if ok and type(j) == 'table' then recs[args[b]] = j end
		end
	end
	if next(recs) == nil then return nil end
	local ids = {}
	for k = 0, n - 1 do ids[args[b0 + k * NF]] = true end
	local edges, indeg = {}, {}
	for id, j in pairs(recs) do
		if j.batch then
			local st = redis.call('HMGET', bkey(c, j.batch), 'created_at',
			                      'sealed_at')
			if not st[1] then
				return err('NOT_FOUND', j.batch, 'no such batch')
			end
			if st[2] then
				return err('CONFLICT', j.batch, 'batch is sealed')
			end
		end
		for _, p in ipairs(words(j.deps)) do
			if p == id then
				return err('BAD_REQUEST', id, 'a job cannot depend on itself')
			end
			if ids[p] then
				edges[p] = edges[p] or {}
				table.insert(edges[p], id)
				indeg[id] = (indeg[id] or 0) + 1
			elseif wf_parent_status(c, p) == nil then
				return err('NOT_FOUND', p, 'no such job or batch in ' ..
				           'depends_on of ' .. id)
			end
		end
	end
	-- Kahn: every id of the group must come out, else there is a cycle.
	local queue, seen, total = {}, 0, 0
	for id in pairs(ids) do
		total = total + 1
		if not indeg[id] then queue[#queue + 1] = id end
	end
	while #queue > 0 do
		local id = table.remove(queue)
		seen = seen + 1
		for _, ch in ipairs(edges[id] or {}) do
			indeg[ch] = indeg[ch] - 1
			if indeg[ch] == 0 then queue[#queue + 1] = ch end
		end
	end
	if seen < total then
		return err('BAD_REQUEST', nil, 'depends_on: the jobs form a cycle')
	end
	c.wf_ids = ids
	return nil
end

-- submit_write's hook, for each job: joins its batch, and writes it
-- deferred (or canceled, its parent having failed) when it waits for a
-- parent.  true if it wrote the job (its status added to out), false to
-- let submit_write store it as usual.
wf_submit = function(c, id, rec, tail, at, out)
	if not c.wf_ids or not wf_flagged(rec) then return false end
	local j = cmsgpack.unpack(rec .. tail.queued)
	if j.batch then
		local k = bkey(c, j.batch)
		redis.call('SADD', k .. ':live', id)
		redis.call('HINCRBY', k, 'total', 1)
	end
	if not j.deps then return false end
	local left, failed = {}, nil
	for _, p in ipairs(words(j.deps)) do
		local st = wf_parent_status(c, p)
		if st == nil and not c.wf_ids[p] then st = 'gone' end
		if st == 'finished' then
			-- satisfied
		elseif st == 'failed' or st == 'canceled' or st == 'gone' then
			if j.on_dep == 'run' then
				-- satisfied
			elseif j.on_dep == 'hold' and st ~= 'gone' then
				left[#left + 1] = p
				redis.call('SADD', c.K .. 'dep:hold:' .. p, id)
				redis.call('ZADD', c.K .. 'dep:held', c.now_s, p)
			else
				failed = failed or { p, st }
			end
		else
			left[#left + 1] = p
			redis.call('SADD', dkey(c, p), id)
		end
	end
	if failed then
		for _, p in ipairs(left) do
			redis.call('SREM', dkey(c, p), id)
			redis.call('SREM', c.K .. 'dep:hold:' .. p, id)
		end
		local how = failed[2]
		if how == 'gone' then how = 'is gone' end
		add_error(c, j, 0, 'dependency: parent ' .. failed[1] .. ' ' .. how)
		finalize(c, id, j, 'canceled')
		out[#out + 1] = 'canceled'
		return true
	end
	if #left == 0 then
		if at > c.now then return false end
		redis.call('SET', jkey(c, id), rec .. tail.queued)
		push(c, j.queue, { id }, false)
		out[#out + 1] = 'queued'
		return true
	end
	j.status = 'deferred'
	j.enqueued_at = nil
	if at > c.now then j.run_at = int_s(at) end
	j.deps_left = table.concat(left, ' ')
	save(c, id, j)
	redis.call('ZADD', ikey(c, 'deferred', j.queue), c.now_s, id)
	out[#out + 1] = 'deferred'
	return true
end

-- watch's hook: a wait on what is not a job, maybe a batch.  Returns
-- {id, record} with the batch's status (its end is published once
-- marked), or NOT_FOUND.
local function wf_watch_batch(c, b)
	local k = bkey(c, b)
	local h = redis.call('HMGET', k, 'status', 'ended_at', 'watch')
	if not h[1] then return err('NOT_FOUND', b, 'no such job or batch') end
	if not h[2] and not h[3] then redis.call('HSET', k, 'watch', '1') end
	return { b, cmsgpack.pack({ status = h[1], type = 'batch',
	                            batch = b }) }
end

-- batch_open: ARGV[4] batch id, [5] description, then optionally the 7
-- submit fields of the callback job (its record carries deps = the batch
-- id and on_dep = run).  Returns {batch_id, callback job id or ''}.
local function batch_open(keys, args)
	local c = context(keys, args)
	local b, cb = args[4], args[6]
	local k = bkey(c, b)
	if redis.call('EXISTS', k) == 1 then
		return err('CONFLICT', b, 'batch id already used')
	end
	if cb and redis.call('EXISTS', jkey(c, cb)) == 1 then
		return err('CONFLICT', cb, 'job id already used')
	end
	redis.call('HSET', k, 'description', args[5], 'created_at', c.now_s,
	           'status', 'open', 'total', '0')
	if not cb then return { b, '' } end
	redis.call('HSET', k, 'callback', cb)
	local j = cmsgpack.unpack(args[12] .. submit_tail(c).queued)
	j.status = 'deferred'
	j.enqueued_at = nil
	j.deps_left = b
	-- its delay or run_at counts from now: it runs no earlier
	local at = num(args[10])
	if num(args[9]) > 0 then at = c.now + num(args[9]) end
	if at > c.now then j.run_at = int_s(at) end
	save(c, cb, j)
	note_queue(c, j.queue)
	redis.call('SADD', dkey(c, b), cb)
	redis.call('ZADD', ikey(c, 'deferred', j.queue), c.now_s, cb)
	return { b, cb }
end

-- batch_seal: ARGV[4] batch id.  Returns the batch's status after.
local function batch_seal(keys, args)
	local c = context(keys, args)
	local b = args[4]
	local k = bkey(c, b)
	local h = redis.call('HMGET', k, 'created_at', 'sealed_at')
	if not h[1] then return err('NOT_FOUND', b, 'no such batch') end
	if h[2] then return err('CONFLICT', b, 'batch is already sealed') end
	redis.call('HSET', k, 'sealed_at', c.now_s, 'status', 'running')
	wf_batch_check(c, b)
	arm(c)
	return redis.call('HGET', k, 'status')
end

-- batch_get: ARGV[4] batch id, [5] '1' to mark it watched (a wait).
-- Returns the batch as JSON text: batch_id, description, status, total,
-- counts {status: n} (the live jobs counted by status while at most
-- WF_COUNT_MAX, else under 'pending'), callback_job_id, *_at (ms).
local function batch_get(keys, args)
	local c = context(keys, args)
	local b = args[4]
	local k = bkey(c, b)
	local h = redis.call('HGETALL', k)
	if #h == 0 then return err('NOT_FOUND', b, 'no such batch') end
	local f = {}
	for i = 1, #h, 2 do f[h[i]] = h[i + 1] end
	if args[5] == '1' and not f.ended_at and not f.watch then
		redis.call('HSET', k, 'watch', '1')
	end
	local counts = { finished = num(f.finished), failed = num(f.failed),
	                 canceled = num(f.canceled), queued = 0, scheduled = 0,
	                 started = 0, deferred = 0 }
	local live = redis.call('SCARD', k .. ':live')
	if live <= WF_COUNT_MAX then
		for _, id in ipairs(redis.call('SMEMBERS', k .. ':live')) do
			local j = peek(jkey(c, id), WF_STATUS)
			if j and counts[j.status] then
				counts[j.status] = counts[j.status] + 1
			end
		end
	else
		counts.pending = live
	end
	return cjson.encode({
		batch_id = b, description = f.description or '',
		status = f.status or 'open', total = num(f.total), counts = counts,
		callback_job_id = f.callback, created_at = num(f.created_at),
		sealed_at = num(f.sealed_at), ended_at = num(f.ended_at),
	})
end

local function submit(keys, args)
	local c = context(keys, args)
	-- The shape of every group first: a malformed call writes nothing.
	local starts = {}
	local i = 4
	while i <= #args do
		local n = tonumber(args[i])
		if not n or n < 1 or n ~= math.floor(n) or i + n * NF > #args then
			return err('BAD_REQUEST', nil, 'submit: bad argument count')
		end
		starts[#starts + 1] = i
		i = i + 1 + n * NF
	end
	if #starts == 0 then
		return err('BAD_REQUEST', nil, 'submit: no jobs')
	end
	local out, ready, tail = {}, {}, submit_tail(c)
	for g, b in ipairs(starts) do
		local n = tonumber(args[b])
		out[g] = submit_check(c, args, b + 1, n) or
		         submit_write(c, args, b + 1, n, ready, tail)
	end
	for _, q in ipairs(ready) do push(c, q, ready[q], false) end
	arm(c)
	return out
end

-- dequeue: ARGV[4] owner, [5] lease_ms, [6] served types (see serves),
-- [7] nqueues, [8..] queues in priority order.  Returns {id, record} or
-- the ms to wait.
local function dequeue(keys, args)
	local c = context(keys, args)
	local n = tonumber(args[7]) or 0
	local queues = {}
	for k = 1, n do queues[k] = args[7 + k] end
	local r = take(c, args[4], tonumber(args[5]) or 30000, args[6], queues,
	               true)
	arm(c)
	return r
end

-- The lease check of finish and fail: the job's record, or nil when the
-- token no longer holds it (reaped, canceled, finished).
local function held(c, id, token)
	local j = load(c, id)
	if not j or j.status ~= 'started' or j.token ~= token then return nil end
	return j
end

-- finish: ARGV[4] id, [5] token, [6] result (JSON), then the take tail
-- at [7].  Returns {'finished'|'lost', next job or wait ms or -1}.
local function finish(keys, args)
	local c = context(keys, args)
	local id = args[4]
	local out = 'lost'
	local j = held(c, id, args[5])
	if j then
		redis.call('ZREM', c.K .. 'active', id)
		limit_release(c, id, j)
		j.result = args[6]
		finalize(c, id, j, 'finished')
		out = 'finished'
	end
	local owner, lease, served, queues = take_args(args, 7)
	local nxt = -1
	if owner then nxt = take(c, owner, lease, served, queues) end
	arm(c)
	return { out, nxt }
end

-- fail: ARGV[4] id, [5] token, [6] error, [7] mode 'fail'|'final'|'requeue',
-- [8] retry delay ms, then the take tail at [9].  Returns {outcome, next}
-- with outcome 'scheduled', 'failed', 'canceled', 'queued' or 'lost'.
local function fail(keys, args)
	local c = context(keys, args)
	local id, text, mode = args[4], args[6], args[7]
	local out = 'lost'
	local j = held(c, id, args[5])
	if j then
		local attempts = num(j.attempts)
		redis.call('ZREM', c.K .. 'active', id)
		limit_release(c, id, j)
		j.token = nil
		if j.cancel == '1' then
			if text ~= '' then add_error(c, j, attempts, text) end
			finalize(c, id, j, 'canceled')
			out = 'canceled'
		elseif mode == 'requeue' then
			-- Not the job's fault (shutdown): the attempt does not count.
			j.attempts = tostring(math.max(attempts - 1, 0))
			enqueue(c, id, j, true)
			out = 'queued'
		else
			add_error(c, j, attempts, text)
			if mode ~= 'final' and attempts < num(j.max_retries) + 1 then
				local delay = tonumber(args[8]) or 0
				if delay < 0 then delay = 0 end
				schedule(c, id, j, c.now + delay)
				out = 'scheduled'
			else
				finalize(c, id, j, 'failed')
				out = 'failed'
			end
		end
	end
	local owner, lease, served, queues = take_args(args, 9)
	local nxt = -1
	if owner then nxt = take(c, owner, lease, served, queues) end
	arm(c)
	return { out, nxt }
end

-- release: ARGV[4] owner ("host:pid"), [5] error.  A worker died before
-- its master learnt which job it had taken: the jobs still started under
-- that owner are failed (or retried) now, as its master would have, instead
-- of when their lease runs out.  Looks at most 1000 running jobs.  Returns
-- {ids, labels}: labels holds the queue and type of each job, in turn (each
-- was an attempt lost, for the daemon's metrics).
local function release(keys, args)
	local c = context(keys, args)
	local owner, text = args[4], args[5]
	local ids = redis.call('ZRANGE', c.K .. 'active', 0, 999)
	local done, labels = {}, {}
	for _, id in ipairs(ids) do
		local j = load(c, id)
		if j and j.owner == owner and j.status == 'started' and j.token then
			fail(keys, { args[1], args[2], args[3], id, j.token, text, 'fail',
			             '0' })
			done[#done + 1] = id
			labels[#labels + 1] = j.queue or ''
			labels[#labels + 1] = j.type or ''
		end
	end
	return { done, labels }
end

-- cancel: ARGV[4] id.  Returns {status after, status before, owner, queue,
-- type} (queue and type label the daemon's metrics).
local function cancel(keys, args)
	local c, j = job_of(keys, args)
	if not c then return j end
	local id = args[4]
	local st = j.status
	if TERMINAL[st] then
		return err('CONFLICT', id, 'job is already ' .. st)
	end
	if st == 'started' then
		j.cancel = '1'
		save(c, id, j)
		publish(c, 'events', 'cancel ' .. id .. ' ' .. (j.owner or '-'))
		return { 'started', 'started', j.owner or '', j.queue or '',
		         j.type or '' }
	end
	if st == 'queued' then
		-- O(queue length), like any removal from the middle of a queue.
		-- Not there: in its type's holding list (or in none, a stale
		-- entry a take skips).
		if redis.call('LREM', qkey(c, j.queue), 1, id) == 0 and j.type then
			redis.call('LREM', hkey(c, j.queue, j.type), 1, id)
		end
		limit_forget(c, id, j)
	else
		redis.call('ZREM', c.K .. 'scheduled', id)
		redis.call('ZREM', ikey(c, 'scheduled', j.queue), id)
	end
	finalize(c, id, j, 'canceled')
	return { 'canceled', st, '', j.queue or '', j.type or '' }
end

-- The known queues: the priority order first, then the others sorted.
local function all_queues(c, prio)
	local out, seen = {}, {}
	for _, q in ipairs(prio) do
		if not seen[q] then out[#out + 1] = q; seen[q] = true end
	end
	local rest = redis.call('SMEMBERS', c.K .. 'queues')
	table.sort(rest)
	for _, q in ipairs(rest) do
		if not seen[q] then out[#out + 1] = q; seen[q] = true end
	end
	return out
end

-- Put one failed or canceled job back at the end of its queue.  Returns
-- nil on success, else an error reply (strict) or false (skip).
local function requeue_one(c, id, strict)
	local j = load(c, id)
	if not j then
		if strict then return err('NOT_FOUND', id, 'no such job') end
		return false
	end
	local st, q, ukey = j.status, j.queue, j.unique_key
	if st ~= 'failed' and st ~= 'canceled' then
		if strict then
			return err('CONFLICT', id, 'job is ' .. st ..
			           ', only failed or canceled jobs can be requeued')
		end
		return false
	end
	if ukey and ukey ~= '' then
		local holder = redis.call('GET', c.K .. 'unique:' .. ukey)
		if holder and holder ~= id then
			local h = load(c, holder)
			if h and not TERMINAL[h.status] then
				if strict then
					return err('CONFLICT', holder, 'unique key held')
				end
				return false
			end
		end
		redis.call('SET', c.K .. 'unique:' .. ukey, id)
	end
	redis.call('ZREM', ikey(c, st, q), id)
	wf_requeued(c, id, j)
	for _, f in ipairs({ 'cancel', 'error', 'result', 'ended_at',
	                     'started_at', 'progress', 'token', 'owner',
	                     'attempts', 'lost', 'watch' }) do
		j[f] = nil
	end
	enqueue(c, id, j, false)
	return nil
end

-- requeue: ARGV[4] 'job' with [5] id, or 'failed' with [5] queue ('' all)
-- and [6] the most to requeue.  Returns the ids requeued.
local function requeue(keys, args)
	local c = context(keys, args)
	local out = {}
	if args[4] == 'job' then
		local e = requeue_one(c, args[5], true)
		if e then return e end
		out[1] = args[5]
	else
		local limit = tonumber(args[6]) or 1000
		local queues = { args[5] }
		if args[5] == '' then queues = all_queues(c, {}) end
		for _, q in ipairs(queues) do
			if #out >= limit then break end
			local k = ikey(c, 'failed', q)
			local ids = redis.call('ZRANGE', k, 0, limit - #out - 1)
			for _, id in ipairs(ids) do
				if requeue_one(c, id, false) == nil then
					out[#out + 1] = id
				else
					-- Stale index entry (the record expired).
					redis.call('ZREM', k, id)
				end
			end
		end
	end
	arm(c)
	return out
end

-- delete: ARGV[4] id.  Removes a finished, failed or canceled job's record
-- and its index entries.  Returns {status it had}.
local function delete(keys, args)
	local c, j = job_of(keys, args)
	if not c then return j end
	local id = args[4]
	local st = j.status
	if not TERMINAL[st] then
		return err('CONFLICT', id, 'job is ' .. st ..
		           ', only finished, failed or canceled jobs can be deleted')
	end
	redis.call('ZREM', ikey(c, st, j.queue), id)
	release_unique(c, id, j.unique_key)
	redis.call('DEL', jkey(c, id))
	wf_gone(c, id)
	return { st }
end

-- get: ARGV[4] id, [5] 'result' to leave the payload out (the result
-- op).  Returns {id, record}, the record as stored: it is not decoded
-- here (store.c does), only its first byte checked, so that a get costs
-- Redis a copy of the record whatever its payload.
local function get(keys, args)
	local k = args[1] .. 'job:' .. args[4]
	local raw
	if args[5] == 'result' then
		raw = select(2, peek(k, NO_FIELDS, RESULT_SKIP))
	else
		raw = redis.call('GET', k)
		if raw and not MAP_FIRST[string.byte(raw)] then
			redis.log(redis.LOG_WARNING, 'jobd: unreadable job record ' .. k)
			raw = nil
		end
	end
	if not raw then return err('NOT_FOUND', args[4], 'no such job') end
	return { args[4], raw }
end

-- watch: ARGV[4] id.  Like get, and a job that has not ended yet is
-- marked so that its end is published on 'ends': only the ends that a
-- client waits for cost a pub/sub message (and every listening master a
-- wake-up), not every job's.  Reading and marking are one step, so an end
-- cannot slip between them.
local function watch(keys, args)
	local c = context(keys, args)
	local id = args[4]
	local k = jkey(c, id)
	local j, raw
	if redis.call('STRLEN', k) <= WINDOW then
		j, raw = load_key(k)
	else
		j = peek(k, WATCH_FIELDS)
	end
	if not j then return wf_watch_batch(c, id) end
	if not TERMINAL[j.status] and not j.watch then
		-- once in a job's life: decoded whole to be written back
		if not raw then j = load_key(k) end
		if not j then return err('NOT_FOUND', id, 'no such job') end
		j.watch = '1'
		raw = save(c, id, j)
	elseif not raw then
		raw = redis.call('GET', k)
	end
	return { id, raw }
end

-- The running jobs, oldest lease first, by queue: {queue = {ids}}, plus
-- every id under ''.  Bounded by ACTIVE_MAX.
local function running(c)
	local by = { [''] = {} }
	for _, id in ipairs(redis.call('ZRANGE', c.K .. 'active', 0,
	                               ACTIVE_MAX - 1)) do
		local j = peek(jkey(c, id), RUNNING_FIELDS)
		if j and j.status == 'started' then
			by[j.queue] = by[j.queue] or {}
			table.insert(by[j.queue], id)
			table.insert(by[''], id)
		end
	end
	return by
end

-- The number of entries with a score >= x in the ZSETs keys.
local function count_from(keys, x)
	local n = 0
	for _, k in ipairs(keys) do
		n = n + redis.call('ZCOUNT', k, int_s(x), '+inf')
	end
	return n
end

-- Entries a..b (from 0) of the ZSETs keys read as one, newest first: by
-- score, then by id, both descending, as ZRANGE REV orders one ZSET.  The
-- score of entry a is found by bisection on ZCOUNT, so a deep page costs
-- about 40 ZCOUNTs per ZSET more than the first, never a walk of the
-- entries before it.  from[id] is set to the ZSET each id came from.
local function merge_range(keys, a, b, from)
	local low, high
	-- Scores are times in ms; a hand-made one beyond 2^53 (or inf) is
	-- taken as that bound, so the bisection below ends.
	local function bounded(x)
		x = math.floor(tonumber(x) or 0)
		if x ~= x then return 0 end
		return math.max(math.min(x, SCORE_MAX), -SCORE_MAX)
	end
	for _, k in ipairs(keys) do
		local first = redis.call('ZRANGE', k, 0, 0, 'WITHSCORES')
		if first[2] then
			local last = redis.call('ZRANGE', k, -1, -1, 'WITHSCORES')
			local f = bounded(first[2])
			local l = bounded(last[2]) + 1
			if not low or f < low then low = f end
			if not high or l > high then high = l end
		end
	end
	if not low or count_from(keys, low) <= a then return {} end
	-- Entry a's score is in [low, high): count_from(low) > a while
	-- count_from(high) <= a.
	for _ = 1, 60 do
		if high - low <= 1 then break end
		local mid = math.floor((low + high) / 2)
		if count_from(keys, mid) > a then low = mid else high = mid end
	end
	local above = count_from(keys, high)
	local want = b - above + 1
	local cand = {}
	for _, k in ipairs(keys) do
		local r = redis.call('ZRANGE', k, '(' .. int_s(high), '-inf',
		                     'BYSCORE', 'REV', 'LIMIT', 0, want, 'WITHSCORES')
		for i = 1, #r, 2 do
			cand[#cand + 1] = { id = r[i], score = tonumber(r[i + 1]), key = k }
		end
	end
	table.sort(cand, function(x, y)
		if x.score ~= y.score then return x.score > y.score end
		return x.id > y.id
	end)
	local out = {}
	for i = a - above + 1, math.min(want, #cand) do
		out[#out + 1] = cand[i].id
		from[cand[i].id] = cand[i].key
	end
	return out
end

-- A segment of a listing: a ZSET (newest first or not), several ZSETs
-- merged newest first (a terminal status across queues), a queue LIST, or
-- ids already in hand.
local function seg_count(s)
	if s.ids then return #s.ids end
	if s.list then return redis.call('LLEN', s.key) end
	if s.merge then
		local n = 0
		for _, k in ipairs(s.merge) do n = n + redis.call('ZCARD', k) end
		return n
	end
	return redis.call('ZCARD', s.key)
end

local function seg_range(s, a, b)
	if s.ids then
		local out = {}
		for i = a + 1, math.min(b + 1, #s.ids) do out[#out + 1] = s.ids[i] end
		return out
	end
	if s.list then return redis.call('LRANGE', s.key, a, b) end
	if s.merge then return merge_range(s.merge, a, b, s.from) end
	if s.rev then return redis.call('ZRANGE', s.key, a, b, 'REV') end
	return redis.call('ZRANGE', s.key, a, b)
end

-- The segments a list walks, in order.
local function segments(c, status, queue, queues)
	local segs = {}
	local sts = STATUSES
	if status ~= '' then sts = { status } end
	for _, st in ipairs(sts) do
		if st == 'started' then
			segs[#segs + 1] = { ids = running(c)[queue] or {} }
		elseif TERMINAL[st] and queue ~= '' then
			segs[#segs + 1] = { key = ikey(c, st, queue), rev = true }
		elseif TERMINAL[st] then
			local keys = {}
			for _, q in ipairs(queues) do keys[#keys + 1] = ikey(c, st, q) end
			segs[#segs + 1] = { merge = keys, from = {} }
		elseif st == 'deferred' and queue ~= '' then
			segs[#segs + 1] = { key = ikey(c, st, queue) }
		elseif st == 'deferred' then
			local keys = {}
			for _, q in ipairs(queues) do keys[#keys + 1] = ikey(c, st, q) end
			segs[#segs + 1] = { merge = keys, from = {} }
		elseif st == 'scheduled' then
			local k = c.K .. 'scheduled'
			if queue ~= '' then k = ikey(c, st, queue) end
			segs[#segs + 1] = { key = k }
		else
			local qs = queues
			if queue ~= '' then qs = { queue } end
			for _, q in ipairs(qs) do
				-- Held jobs were popped before the queue's: older.
				for _, h in ipairs(held_lists(c, q)) do
					segs[#segs + 1] = { key = h[2], list = true }
				end
				segs[#segs + 1] = { key = qkey(c, q), list = true }
			end
			limit_segments(c, segs, queue)
		end
	end
	return segs
end

-- The listed fields of one job, or nil if it expired.
local function list_record(c, id)
	local _, raw = peek(jkey(c, id), NO_FIELDS, LIST_SKIP)
	if not raw then return nil end
	return { id, raw }
end

-- list: ARGV[4] status, [5] queue, [6] type ('' = any), [7] offset,
-- [8] limit, [9] nqueues, [10..] queues in priority order.
-- Returns {total, record, record, ...}.
local function list(keys, args)
	local c = context(keys, args)
	local status, queue, jtype = args[4], args[5], args[6]
	local offset = math.max(tonumber(args[7]) or 0, 0)
	local limit = math.min(math.max(tonumber(args[8]) or 100, 0), 1000)
	if status ~= '' and not VALID_STATUS[status] then
		return err('BAD_REQUEST', nil, 'unknown status ' .. status)
	end
	local prio = {}
	for k = 1, tonumber(args[9]) or 0 do prio[k] = args[9 + k] end
	local segs = segments(c, status, queue, all_queues(c, prio))
	local out = { 0 }
	local total = 0
	if jtype == '' then
		for _, s in ipairs(segs) do
			s.n = seg_count(s)
			total = total + s.n
		end
		local skip = offset
		for _, s in ipairs(segs) do
			if #out - 1 >= limit then break end
			if skip >= s.n then
				skip = skip - s.n
			else
				local ids = seg_range(s, skip, skip + limit - (#out - 1) - 1)
				skip = 0
				for _, id in ipairs(ids) do
					local rec = list_record(c, id)
					if rec then
						out[#out + 1] = rec
					else
						-- A stale index entry: its record expired.  (Its
						-- only write: it frees memory, see register.)
						if not s.ids and not s.list then
							redis.call('ZREM', s.from and s.from[id] or s.key,
							           id)
						end
						total = total - 1
					end
				end
			end
		end
	else
		-- No type index: scan, bounded.
		local scanned = 0
		for _, s in ipairs(segs) do
			local pos = 0
			while scanned < LIST_SCAN_MAX do
				local ids = seg_range(s, pos, pos + 499)
				if #ids == 0 then break end
				pos = pos + #ids
				scanned = scanned + #ids
				for _, id in ipairs(ids) do
					local j = peek(jkey(c, id), TYPE_FIELDS)
					if j and j.type == jtype then
						if total >= offset and #out - 1 < limit then
							out[#out + 1] = list_record(c, id)
						end
						total = total + 1
					end
				end
			end
		end
	end
	out[1] = total
	return out
end

-- stats: ARGV[4] nqueues, [5..] queues in priority order.  Returns
-- {{queue, queued, scheduled, started, finished, failed, canceled,
-- paused, age}, ...}, {host worker JSON, ...}, {host, served types, ...},
-- {type, held jobs, ...}}; age: ms since the oldest job next in line
-- (its queue's or a holding list's head) was queued (0: none); the last,
-- the jobs in holding lists whose type no live daemon serves (queued
-- counts them too).
local function stats(keys, args)
	local c = context(keys, args)
	local prio = {}
	for k = 1, tonumber(args[4]) or 0 do prio[k] = args[4 + k] end
	local run = running(c)
	local rows, held = {}, {}
	for _, q in ipairs(all_queues(c, prio)) do
		local queued = redis.call('LLEN', qkey(c, q))
		local heads = { qkey(c, q) }
		for _, h in ipairs(held_lists(c, q)) do
			local n = redis.call('LLEN', h[2])
			if n > 0 then
				queued = queued + n
				held[h[1]] = (held[h[1]] or 0) + n
				heads[#heads + 1] = h[2]
			end
		end
		local row = { q, queued,
			redis.call('ZCARD', ikey(c, 'scheduled', q)), #(run[q] or {}) }
		for _, st in ipairs({ 'finished', 'failed', 'canceled' }) do
			-- What trim_indexes would keep: stats writes nothing (see
			-- register), the reaper trims.
			local ttl = c.fttl
			if st == 'finished' then ttl = c.rttl end
			if ttl > 0 then
				row[#row + 1] = redis.call('ZCOUNT', ikey(c, st, q),
				                           int_s(c.now - ttl * 1000), '+inf')
			else
				row[#row + 1] = redis.call('ZCARD', ikey(c, st, q))
			end
		end
		row[#row + 1] = redis.call('SISMEMBER', c.K .. 'paused', q)
		local age = 0
		for _, k in ipairs(heads) do
			local head = redis.call('LINDEX', k, 0)
			local hj = head and peek(jkey(c, head), ENQUEUED_FIELDS)
			local at = hj and tonumber(hj.enqueued_at)
			if at then age = math.max(age, c.now - at) end
		end
		row[#row + 1] = age
		row[#row + 1] = wf_deferred_count(c, q)
		rows[#rows + 1] = row
	end
	local hk = c.K .. 'hosts'
	local workers, daemons, any = {}, {}, false
	for _, h in ipairs(redis.call('ZRANGE', hk, '(' .. c.now_s, '+inf',
	                              'BYSCORE', 'LIMIT', 0, HOSTS_MAX)) do
		local w = redis.call('GET', c.K .. 'host:' .. h)
		if w then workers[#workers + 1] = w end
		-- A daemon older than served types stores none: it takes no
		-- held job, so it serves none of them.
		local sv = redis.call('GET', c.K .. 'served:' .. h)
		if sv then
			daemons[#daemons + 1] = h
			daemons[#daemons + 1] = sv
			if string.sub(sv, 1, 1) == '*' then any = true end
			for t in pairs(held) do
				if string.find(sv, ' ' .. t .. ' ', 1, true) then
					held[t] = nil
				end
			end
		end
	end
	local unserved = {}
	if not any then
		local types = {}
		for t in pairs(held) do types[#types + 1] = t end
		table.sort(types)
		for _, t in ipairs(types) do
			unserved[#unserved + 1] = t
			unserved[#unserved + 1] = held[t]
		end
	end
	return { rows, workers, daemons, unserved, limit_parked(c) }
end

-- pause: ARGV[4] queue, [5] '1' pause | '0' resume.
local function pause(keys, args)
	local c = context(keys, args)
	local q = args[4]
	redis.call('SADD', c.K .. 'queues', q)
	memo_paused[c.K] = nil
	if args[5] == '1' then
		redis.call('SADD', c.K .. 'paused', q)
	else
		redis.call('SREM', c.K .. 'paused', q)
		if redis.call('LLEN', qkey(c, q)) > 0 then
			c.wake = true
			arm(c)
		end
		for _, h in ipairs(held_lists(c, q)) do
			if redis.call('LLEN', h[2]) > 0 then wake_type(c, h[1]) end
		end
	end
	return 'OK'
end

-- progress: ARGV[4] id, [5] token ('' = whoever holds it), [6] progress
-- JSON.
local function progress(keys, args)
	local c, j = job_of(keys, args)
	if not c then return j end
	local id, token = args[4], args[5]
	if j.status ~= 'started' then
		return err('CONFLICT', id, 'job is ' .. j.status .. ', not started')
	end
	if token ~= '' and j.token ~= token then
		return err('LOST', id, 'lease lost')
	end
	j.progress = args[6]
	save(c, id, j)
	return 'OK'
end

-- heartbeat: ARGV[4] host, [5] workers JSON, [6] host info TTL ms,
-- [7] lease_ms, [8] served types (see serves), [9] n, then n pairs id
-- token.  Returns {lost,
-- cancel}.  The lease deadline lives in the active index only.
local function heartbeat(keys, args)
	local c = context(keys, args)
	local host, ttl = args[4], tonumber(args[6]) or 30000
	local deadline = c.now + (tonumber(args[7]) or 30000)
	local n = tonumber(args[9]) or 0
	local lost, canc = {}, {}
	for k = 0, n - 1 do
		local id, token = args[10 + 2 * k], args[11 + 2 * k]
		local j = load(c, id) or {}
		if j.status == 'started' and j.token == token then
			redis.call('ZADD', c.K .. 'active', 'XX', deadline, id)
			if j.cancel == '1' then canc[#canc + 1] = id end
		elseif not TERMINAL[j.status] then
			-- Reaped and queued again, or held by someone else.  (A
			-- terminal job was just ended by its holder: not lost.)
			lost[#lost + 1] = id
		end
	end
	if host ~= '' then
		redis.call('SET', c.K .. 'host:' .. host, args[5], 'PX', ttl)
		redis.call('SET', c.K .. 'served:' .. host, args[8], 'PX', ttl)
		redis.call('ZADD', c.K .. 'hosts', c.now + ttl, host)
		redis.call('ZREMRANGEBYSCORE', c.K .. 'hosts', '-inf', c.now_s)
	end
	return { lost, canc }
end

-- reap: ARGV[4] the most to handle, [5] losses tolerated, [6] lease ms.
-- Expired leases: the token is dropped (the old holder is fenced off), the
-- loss counted and noted in the error history; a canceled job ends
-- canceled, one lost too often or with no attempt left fails as abandoned,
-- any other goes back to the front of its queue.  When no reaper ran for
-- longer than a lease (Redis was down or every master stopped), holders
-- could not renew either: expired leases get one more lease instead.
-- Also promotes due scheduled jobs and trims the terminal indexes.
-- Returns {requeued, failed, labels}: labels holds queue and type of each
-- job of requeued then failed, in turn (for the daemon's metrics).
local function reap(keys, args)
	local c = context(keys, args)
	local limit = tonumber(args[4]) or 100
	local max_lost = tonumber(args[5]) or 3
	local lease = tonumber(args[6]) or 30000
	local ak = c.K .. 'active'
	local ids = redis.call('ZRANGEBYSCORE', ak, '-inf', c.now, 'LIMIT', 0,
	                       limit)
	local requeued, failed, lq, lf = {}, {}, {}, {}
	local last = tonumber(redis.call('HGET', c.meta, 'last_reap')) or 0
	redis.call('HSET', c.meta, 'last_reap', c.now)
	if c.now - last > lease then
		for _, id in ipairs(ids) do
			redis.call('ZADD', ak, 'XX', c.now + lease, id)
		end
		ids = {}
	end
	for _, id in ipairs(ids) do
		redis.call('ZREM', ak, id)
		local j = load(c, id)
		limit_release(c, id, j)
		if j and j.status == 'started' then
			j.token = nil
			local lost = num(j.lost) + 1
			j.lost = tostring(lost)
			local attempts = num(j.attempts)
			local why = 'lease expired: holder ' .. tostring(j.owner or '?') ..
			            ' stopped renewing it'
			local label = { j.queue or '', j.type or '' }
			if j.cancel == '1' then
				finalize(c, id, j, 'canceled')
				failed[#failed + 1] = id
				lf[#lf + 1] = label
			elseif lost > max_lost or attempts >= num(j.max_retries) + 1 then
				add_error(c, j, attempts, 'abandoned: ' .. why ..
				          ' (lost ' .. lost .. ' times)')
				finalize(c, id, j, 'failed')
				failed[#failed + 1] = id
				lf[#lf + 1] = label
			else
				add_error(c, j, attempts, why .. '; requeued')
				enqueue(c, id, j, true)
				requeued[#requeued + 1] = id
				lq[#lq + 1] = label
			end
		end
	end
	wf_reap(c)
	promote(c, PROMOTE_MAX)
	limit_promote(c)
	trim_indexes(c)
	arm(c)
	local labels = {}
	for _, l in ipairs(lq) do labels[#labels + 1] = l[1]; labels[#labels + 1] = l[2] end
	for _, l in ipairs(lf) do labels[#labels + 1] = l[1]; labels[#labels + 1] = l[2] end
	return { requeued, failed, labels }
end

-- schema: a daemon's check of the namespace when its connection comes up
-- (before any other call of this library).  The first daemon stores SCHEMA
-- at <K>schema; one whose SCHEMA differs from the stored one is refused
-- (SCHEMA error).  A namespace without the key is new or was written by a
-- build older than the key, whose layout is schema 1.  One SET: two
-- daemons starting together cannot both think they were first with
-- different schemas.  Returns {library, schema}.
local function schema(keys, args)
	local key = args[1] .. 'schema'
	-- Not a string: SET would raise WRONGTYPE, which reads as an outage
	-- and makes the daemon retry for ever instead of saying why.
	local t = redis.call('TYPE', key).ok
	if t ~= 'none' and t ~= 'string' then
		return err('SCHEMA', nil, 'the key schema in Redis (' .. key ..
		           ') is a ' .. t .. ', not a version: this namespace ' ..
		           'holds keys jobd did not write')
	end
	local stored = redis.call('SET', key, int_s(SCHEMA), 'NX', 'GET')
	local v = tonumber(stored)
	if not stored or v == SCHEMA then return { LIBRARY, SCHEMA } end
	if v and v > SCHEMA then
		return err('SCHEMA', nil, 'the key schema in Redis (' .. key ..
		           ' = ' .. stored .. ') is newer than this jobd knows (' ..
		           SCHEMA .. '): run a jobd as new as the one that wrote it')
	end
	return err('SCHEMA', nil, 'the key schema in Redis (' .. key .. ' = ' ..
	           stored .. ') is not one this jobd can use (it uses ' ..
	           SCHEMA .. '); see docs/architecture.md, "Versions and ' ..
	           'rolling upgrades"')
end

-- ==== periodic jobs ([cron:NAME], issue 15) ===============================
-- Key cron:NAME, a HASH: last (the last tick claimed, Unix ms), job (its
-- job id), at (when it was claimed, Redis clock).  Every daemon sharing
-- the Redis calls cron_tick for every tick of every schedule it has; the
-- first call records the tick and submits its job, in the same call, and
-- the others find the tick taken: no leader, no lock to go stale.

-- cron_tick: ARGV[4] name, [5] tick (Unix ms), [6] 'tick' or 'catchup',
-- [7..] one submit group of one job (submit's arguments: '1' then NF).
-- A tick at or before the last claimed one is not run again; a catch-up
-- (misfire = once, at a daemon's start) only when the schedule ran before.
-- Returns JSON {claimed, last, job, status}.
local function cron_tick(keys, args)
	local c = context(keys, args)
	local name, tick, mode = args[4], tonumber(args[5]), args[6]
	if not name or name == '' or not tick or tick < 0 or
	   tick ~= math.floor(tick) or (mode ~= 'tick' and mode ~= 'catchup') or
	   args[7] ~= '1' or #args ~= 7 + NF then
		return err('BAD_REQUEST', nil, 'cron_tick: bad arguments')
	end
	local key = c.K .. 'cron:' .. name
	local last = tonumber(redis.call('HGET', key, 'last'))
	local function answer(claimed, status)
		return cjson.encode({ claimed = claimed, last = last or 0,
		                      job = redis.call('HGET', key, 'job') or '',
		                      status = status })
	end
	if (mode == 'catchup' and not last) or (last and tick <= last) then
		return answer(false, 'taken')
	end
	local id = args[8]
	if submit_check(c, args, 8, 1) then
		-- its job id is there already (the hash was lost): taken
		redis.call('HSET', key, 'last', int_s(tick), 'job', id)
		last = tick
		return answer(false, 'taken')
	end
	redis.call('HSET', key, 'last', int_s(tick), 'job', id, 'at', c.now_s)
	last = tick
	local ready = {}
	local out = submit_write(c, args, 8, 1, ready, submit_tail(c))
	for _, q in ipairs(ready) do push(c, q, ready[q], false) end
	arm(c)
	return answer(true, out[2])
end

-- cron_list: ARGV[4..] schedule names.  Returns JSON {NAME: {last, job,
-- status}} for those that ran (status: their last job's, or '' if gone).
local function cron_list(keys, args)
	local c = context(keys, args)
	local out = {}
	if #args - 3 > 1024 then
		return err('BAD_REQUEST', nil, 'cron_list: too many names')
	end
	for i = 4, #args do
		local h = redis.call('HMGET', c.K .. 'cron:' .. args[i], 'last', 'job')
		if h[1] then
			local st = ''
			if h[2] then
				local j = peek(jkey(c, h[2]), { status = true })
				if j and j.status then st = j.status end
			end
			out[args[i]] = { last = tonumber(h[1]), job = h[2] or '',
			                 status = st }
		end
	end
	if next(out) == nil then return '{}' end
	return cjson.encode(out)
end
-- ==== end of periodic jobs ================================================

local function register(name, fn, flags)
	redis.register_function{ function_name = LIBRARY .. '_' .. name,
	                         callback = fn, flags = flags or {} }
end

-- Flags (docs/reliability.md, "Redis under pressure").  Over maxmemory
-- (noeviction) Redis refuses a function without flags, and one without
-- 'no-writes' when its disk writes fail (MISCONF): get and stats are
-- 'no-writes' and write nothing, so that an operator can still look.
-- 'allow-oom' lets a function write over maxmemory: only those that free
-- memory or add a few bytes to keys that exist get it — list (it only
-- drops stale index entries), delete and cancel (so that an admin can
-- free memory), heartbeat (leases of running jobs must not expire
-- meanwhile), watch (a wait), pause/resume, and schema (one small key,
-- once, so that a daemon can start).  submit, the
-- worker's finish and fail, requeue, progress and reap stay refused
-- ("OOM ..."), retried by their callers once memory is freed.
local READ = { 'no-writes' }
local SMALL = { 'allow-oom' }
register('schema', schema, SMALL)
register('submit', submit)
register('dequeue', dequeue)
register('finish', finish)
register('fail', fail)
register('cancel', cancel, SMALL)
register('requeue', requeue)
register('delete', delete, SMALL)
register('get', get, READ)
register('watch', watch, SMALL)
register('list', list, SMALL)
register('stats', stats, READ)
register('pause', pause, SMALL)
register('progress', progress)
register('heartbeat', heartbeat, SMALL)
register('reap', reap)
register('release', release)
register('cron_tick', cron_tick)
register('cron_list', cron_list, READ)
register('batch_open', batch_open)
register('batch_seal', batch_seal)
register('batch_get', batch_get, SMALL)
register('limits', limits, READ)
