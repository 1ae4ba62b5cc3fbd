# Preference: the order in which the backends that privacy allows are tried (issue 11).
#
# A separate query, data.privacy_router.preference.result, evaluated by the router AFTER the
# privacy decision (policy/preference.py). Its input is the decision's input plus
# `decision` {action, backend, fallbacks}: the backends privacy allows for this request, in list
# order. It answers {order, reasons}: the same names, reordered. The router takes `order[0]` as the
# backend and the rest as the fallbacks, and refuses (fails closed) any order that is not exactly
# a reordering of the allowed names. So a preference cannot add a backend, drop one, or change the
# action: cost or latency can never move data further out than privacy allows.
#
# Why a separate query: regopy 1.5.2 grows badly in memory when the decision's rules get deeper
# (with these rules inside the decision, `policy test` went past 20 GB; policies/README.md,
# "Preference"). Kept apart, the decision is unchanged and this package is small and flat.
#
# data.preference comes from policies/data/preference.json (the security team's choice):
#   strategy               "order" (list order; the default), "cheapest" or "fastest"
#   assumed_output_tokens  output tokens assumed per request when estimating its cost
#   designated             {backend, min_input_tokens, min_tool_count}: a request at or above either
#                          threshold goes first to `backend`, when that backend is allowed
package privacy_router.preference

import rego.v1

known_strategies := {"order", "cheapest", "fastest"}

# An absent or unknown strategy is "order"; preference_test.rego fails on an unknown one, so
# `policy test` and a hot reload refuse a typo before it ships.
strategy := data.preference.strategy if data.preference.strategy in known_strategies

strategy := "order" if not data.preference.strategy in known_strategies

# Whether this step can change any order at all. It depends on data only: the router reads it
# once when it loads the policy and skips the query while it is false (list order is already the
# decision's order), so the default costs nothing per request. A preference package without this
# rule is always evaluated.
default active := false

active if strategy != "order"

active if designated_backend

input_tokens := n if {
	n := input.request.estimated_input_tokens
	is_number(n)
} else := 0

tool_count := n if {
	n := input.request.tool_count
	is_number(n)
} else := 0

assumed_output_tokens := n if {
	n := data.preference.assumed_output_tokens
	is_number(n)
} else := 0

# The designated backend rule: long-context or tool-heavy requests go first to one backend.
designated_backend := name if {
	name := data.preference.designated.backend
	is_string(name)
}

long_context if {
	n := data.preference.designated.min_input_tokens
	is_number(n)
	input_tokens >= n
}

tool_heavy if {
	n := data.preference.designated.min_tool_count
	is_number(n)
	tool_count >= n
}

designated_request if long_context

designated_request if tool_heavy

designated_rank(b) := 0 if {
	designated_request
	b.name == designated_backend
} else := 1

# Estimated USD cost of this request at a backend: per-token prices, plus the hourly capacity cost
# spread over the tokens that capacity serves. Undefined for an unpriced backend (price null, or an
# hourly cost without a capacity to spread it over).
request_cost(b) := cost if {
	is_object(b.price)
	per_mtok := (input_tokens * price_of(b.price, "input_usd_per_mtok")) + (assumed_output_tokens * price_of(b.price, "output_usd_per_mtok"))
	cost := (per_mtok / 1000000) + capacity_cost(b.price)
}

price_of(p, key) := p[key] if is_number(p[key])

price_of(p, key) := 0 if not is_number(p[key])

capacity_cost(p) := 0 if price_of(p, "hourly_usd") == 0

capacity_cost(p) := ((input_tokens + assumed_output_tokens) * p.hourly_usd) / (3600 * p.capacity_tokens_per_s) if {
	is_number(p.hourly_usd)
	p.hourly_usd > 0
	is_number(p.capacity_tokens_per_s)
	p.capacity_tokens_per_s > 0
}

outstanding(b) := n if {
	n := b.load.outstanding
	is_number(n)
} else := 0

# Sort keys of the same shape for every strategy: [group, primary, secondary]. Group 1 (unpriced,
# unmeasured) sorts after group 0; list position breaks every tie (preference_key). The strategy
# picks a key by index, not through a function with one definition per strategy: in regopy 1.5.2
# that form cost 0.45 GB more per test that evaluates the preference (policies/README.md).
strategy_index := {"order": 0, "cheapest": 1, "fastest": 2}[strategy]

cheapest_key(b) := [0, cost, 0] if {
	cost := request_cost(b)
} else := [1, 0, 0]

# Fastest: latency p95, then requests in flight. A backend the gateway has not measured yet (p95
# null) comes after every measured one, ordered by load.
fastest_key(b) := [0, p95, outstanding(b)] if {
	p95 := b.latency_ms.p95
	is_number(p95)
} else := [1, outstanding(b), 0]

# [text, position]: the key as fixed-width text, so that sort() orders it right in both engines.
# regopy 1.5.2's sort() compares numbers as text (sort([10, 9]) is [10, 9]); zero-padded numbers
# sort the same as text and as numbers (prices, latencies and loads are never negative). The
# position breaks every tie, so the order is the list order among equals.
preference_key(i, b) := [sprintf("%d|%d|%020.6f|%020.6f|%06d", [designated_rank(b), k[0], k[1], k[2], i]), i] if {
	k := [[0, 0, 0], cheapest_key(b), fastest_key(b)][strategy_index]
}

# The allowed backends, in the decision's order, as the input describes them.
allowed_names := array.concat([input.decision.backend], input.decision.fallbacks)

kind_backends := input.backends.onprem if input.decision.action == "onprem"

kind_backends := input.backends.external if input.decision.action in {"external", "external_scrubbed"}

candidates := [b | some name in allowed_names; some b in kind_backends; b.name == name]

# Best first. `some i; b := list[i]`, not `some i, b in list`: regopy 1.5.2 reads the comma as a
# collection literal ("Invalid collection"). sort() is iterated, not kept as a rule value.
keys := [preference_key(i, b) | some i; b := candidates[i]]

order := [candidates[k[1]].name | some k in sort(keys)]

backend := order[0]

# One reason naming the preference that picked `backend` (none for "order"); the router adds it
# after the decision's reasons. It never explains an on-prem route: the route reason comes first
# and says why (report/economics.py reads the first reason that matches).
preference_reason := concat("", ["long-context request: designated backend ", backend, " preferred"]) if {
	long_context
	backend == designated_backend
} else := concat("", ["tool-heavy request: designated backend ", backend, " preferred"]) if {
	tool_heavy
	backend == designated_backend
} else := "cost preference: allowed backends ordered by estimated request cost, unpriced last" if {
	strategy == "cheapest"
} else := "latency preference: allowed backends ordered by measured p95 latency, then load" if {
	strategy == "fastest"
}

preference_reasons := [r] if {
	r := preference_reason
} else := []

result := {"order": order, "reasons": preference_reasons}
