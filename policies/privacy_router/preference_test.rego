# Preference tests: each strategy only reorders the backends the privacy decision allowed, and no
# preference can move a request to another kind of backend (preference.rego, data/preference.json).
package privacy_router_test

import data.privacy_router
import rego.v1

# Every preference evaluation in this file goes through ONE call site (pref_got, flow_got): in
# regopy 1.5.2 each call site of a rule evaluated `with` overrides is compiled again, and twelve
# separate call sites cost about 2 GB more in `policy test`. Tests name cases in two tables.
#
# `with ... as <local>`, never a rule reference: regopy 1.5.2 silently ignores the latter.
prefer(pref, r, b, allowed) := out if {
	out := privacy_router.preference.result with data.preference as pref
		with input.request as r
		with input.backends as b
		with input.decision as allowed
}

# The preference answer for each case of pref_cases: [preference, request, backends, allowed].
pref_got := {name: out |
	some name
	c := pref_cases[name]
	out := prefer(c[0], c[1], c[2], c[3])
}

# What the router does (policy/preference.py): the privacy decision, then the preference over the
# backends it allowed. For each case of flow_cases ([preference, detection, request, backends]):
# [action, preferred order].
flow_got := {name: [dec.action, out.order] |
	some name
	c := flow_cases[name]
	dec := decide(principal_us, c[2], c[1], c[3])
	dec.action != "block"
	allowed := {"action": dec.action, "backend": dec.backend, "fallbacks": dec.fallbacks}
	out := prefer(c[0], c[2], c[3], allowed)
}

allowed(action, names) := {"action": action, "backend": names[0], "fallbacks": array.slice(names, 1, count(names))}

by(strategy) := {"strategy": strategy, "assumed_output_tokens": 300, "designated": {"backend": null}}

designate(strategy, name) := {
	"strategy": strategy,
	"assumed_output_tokens": 300,
	"designated": {"backend": name, "min_input_tokens": 32000, "min_tool_count": 4},
}

sized(tokens, tools) := object.union(request, {"estimated_input_tokens": tokens, "tool_count": tools})

api_price(input_per_mtok, output_per_mtok) := {
	"input_usd_per_mtok": input_per_mtok,
	"output_usd_per_mtok": output_per_mtok,
	"hourly_usd": 0,
	"capacity_tokens_per_s": null,
}

hourly_price(usd, tokens_per_s) := {
	"input_usd_per_mtok": 0,
	"output_usd_per_mtok": 0,
	"hourly_usd": usd,
	"capacity_tokens_per_s": tokens_per_s,
}

priced(b, price) := object.union(b, {"price": price})

measured(b, p95, outstanding) := object.union(b, {
	"latency_ms": {"p50": p95, "p95": p95, "samples": 20},
	"load": {"outstanding": outstanding},
})

unmeasured(b, outstanding) := object.union(b, {
	"latency_ms": {"p50": null, "p95": null, "samples": 0},
	"load": {"outstanding": outstanding},
})

vllm_c := object.union(vllm_b, {"name": "vllm-c", "models": ["llama-3.1-8b"]})

india := {"name": "openai-in", "region": "ap-south", "zero_data_retention": true, "healthy": true}

# -- the cases -----------------------------------------------------------------------------------

cheap_eu := priced(object.union(mistral_eu, {"name": "cheap"}), api_price(0.1, 0.3))

two_priced(a, b) := {"onprem": [], "external": [priced(openai_us, a), priced(mistral_eu, b)]}

fastest_mix := {"onprem": [], "external": [
	unmeasured(object.union(openai_us, {"name": "new"}), 0),
	measured(openai_us, 900, 0),
	measured(mistral_eu, 300, 5),
	measured(object.union(mistral_eu, {"name": "idle"}), 300, 1),
]}

hourly_onprem := {"onprem": [
	priced(vllm_a, hourly_price(8, 1000)),
	priced(vllm_b, hourly_price(1, null)),
	priced(vllm_c, hourly_price(2, 2000)),
], "external": [openai_us]}

scrub_mix := {"onprem": [vllm_a], "external": [
	priced(openai_us, api_price(10, 30)),
	priced(india, api_price(0, 0)),
	priced(mistral_eu, api_price(1, 2)),
]}

cost_reason := "cost preference: allowed backends ordered by estimated request cost, unpriced last"

latency_reason := "latency preference: allowed backends ordered by measured p95 latency, then load"

ext(names) := allowed("external", names)

pref_cases := {
	"unknown": [by("cheepest"), request, two_priced(api_price(10, 30), api_price(0.1, 0.3)), ext(["openai", "mistral"])],
	"cheapest": [
		by("cheapest"), sized(1000, 0),
		{"onprem": [], "external": [priced(openai_us, api_price(2.5, 10)), priced(mistral_eu, api_price(1, 3)), cheap_eu]},
		ext(["openai", "mistral", "cheap"]),
	],
	# openai: 1000 x 1 + 300 x 40 = 13 000; mistral: 1000 x 5 + 300 x 5 = 6 500 (USD per million).
	"output_weighs": [by("cheapest"), sized(1000, 0), two_priced(api_price(1, 40), api_price(5, 5)), ext(["openai", "mistral"])],
	"unpriced_last": [
		by("cheapest"), sized(1000, 0),
		{"onprem": [], "external": [openai_us, priced(mistral_eu, api_price(30, 60))]},
		ext(["openai", "mistral"]),
	],
	"equal_cost": [by("cheapest"), sized(1000, 0), two_priced(api_price(1, 1), api_price(1, 1)), ext(["openai", "mistral"])],
	"fastest": [by("fastest"), request, fastest_mix, ext(["new", "openai", "mistral", "idle"])],
	"fastest_unmeasured": [
		by("fastest"), request,
		{"onprem": [unmeasured(vllm_a, 3), unmeasured(vllm_c, 0)], "external": []},
		allowed("onprem", ["vllm-a", "vllm-c"]),
	],
	"long_context": [
		designate("cheapest", "mistral"), sized(40000, 0),
		two_priced(api_price(0.1, 0.1), api_price(5, 15)), ext(["openai", "mistral"]),
	],
	"tool_heavy": [designate("order", "mistral"), sized(10, 4), backends, ext(["openai", "mistral"])],
	"small_request": [designate("order", "mistral"), sized(31999, 3), backends, ext(["openai", "mistral"])],
}

named_flow_cases := {
	"hourly_onprem": [by("cheapest"), phi, sized(1000, 0), hourly_onprem],
	"scrubbed": [by("cheapest"), pii, sized(1000, 0), scrub_mix],
	"pinned_model": [
		by("fastest"), clean, with_model("llama-3.1-8b"),
		{"onprem": [measured(vllm_a, 500, 0), measured(vllm_b, 10, 0), measured(vllm_c, 200, 0)], "external": []},
	],
	"designated_external_phi": [designate("order", "mistral"), phi, sized(40000, 9), backends],
	"designated_onprem_clean": [designate("order", "vllm-c"), clean, sized(40000, 0), {"onprem": [vllm_a, vllm_c], "external": [openai_us]}],
	"designated_onprem_phi": [designate("order", "vllm-c"), phi, sized(40000, 0), {"onprem": [vllm_a, vllm_c], "external": [openai_us]}],
}

flow_cases := object.union(named_flow_cases, extreme_cases)

# -- the shipped data -----------------------------------------------------------------------------

test_shipped_preference_is_a_known_strategy if {
	data.preference.strategy in privacy_router.preference.known_strategies
}

test_shipped_preference_keeps_list_order if {
	privacy_router.preference.strategy == "order"
	b := two_priced(api_price(10, 30), api_price(0.1, 0.3))
	out := privacy_router.preference.result with input.request as sized(100000, 10)
		with input.backends as b
		with input.decision as ext(["openai", "mistral"])
	out == {"order": ["openai", "mistral"], "reasons": []}
}

# The shipped data changes no order, so the router skips the query (policy/preference.py).
test_shipped_preference_is_inactive if {
	privacy_router.preference.active == false
}

test_unknown_strategy_keeps_list_order if {
	pref_got.unknown == {"order": ["openai", "mistral"], "reasons": []}
}

# -- cheapest -------------------------------------------------------------------------------------

test_cheapest_picks_the_lowest_estimated_cost_and_orders_fallbacks if {
	pref_got.cheapest == {"order": ["cheap", "mistral", "openai"], "reasons": [cost_reason]}
}

test_cheapest_weighs_output_tokens if {
	pref_got.output_weighs.order == ["mistral", "openai"]
}

test_cheapest_puts_unpriced_backends_last if {
	pref_got.unpriced_last.order == ["mistral", "openai"]
}

test_cheapest_keeps_list_order_on_equal_cost if {
	pref_got.equal_cost.order == ["openai", "mistral"]
}

test_cheapest_spreads_hourly_cost_over_capacity_on_prem if {
	# vllm-a: $8/h over 1000 tokens/s; vllm-c: $2/h over 2000 tokens/s (8 times cheaper per token);
	# vllm-b has an hourly cost but no capacity to spread it over: unpriced, so last.
	flow_got.hourly_onprem == ["onprem", ["vllm-c", "vllm-a", "vllm-b"]]
}

test_cheapest_scrubbed_stays_within_permitted_regions if {
	# India is free but not an export destination for a US tenant: privacy never offers it.
	flow_got.scrubbed == ["external_scrubbed", ["mistral", "openai"]]
}

# -- fastest --------------------------------------------------------------------------------------

test_fastest_orders_by_p95_then_load_then_unmeasured if {
	pref_got.fastest == {"order": ["idle", "mistral", "openai", "new"], "reasons": [latency_reason]}
}

test_fastest_orders_unmeasured_backends_by_load if {
	pref_got.fastest_unmeasured.order == ["vllm-c", "vllm-a"]
}

test_fastest_keeps_a_pinned_model_on_backends_serving_it if {
	# vllm-b is the fastest but does not serve llama: the pin keeps the request on vllm-a / vllm-c.
	flow_got.pinned_model == ["onprem", ["vllm-c", "vllm-a"]]
}

# -- designated backend ---------------------------------------------------------------------------

test_long_context_request_goes_to_the_designated_backend if {
	pref_got.long_context == {
		"order": ["mistral", "openai"],
		"reasons": ["long-context request: designated backend mistral preferred"],
	}
}

test_tool_heavy_request_goes_to_the_designated_backend if {
	pref_got.tool_heavy == {
		"order": ["mistral", "openai"],
		"reasons": ["tool-heavy request: designated backend mistral preferred"],
	}
}

test_small_request_ignores_the_designated_backend if {
	pref_got.small_request == {"order": ["openai", "mistral"], "reasons": []}
}

test_designated_external_backend_never_gets_sensitive_data if {
	flow_got.designated_external_phi == ["onprem", ["vllm-a"]]
}

test_designated_onprem_backend_does_not_pull_clean_traffic_on_prem if {
	flow_got.designated_onprem_clean == ["external", ["openai"]]
	flow_got.designated_onprem_phi == ["onprem", ["vllm-c", "vllm-a"]]
}

# -- no preference moves data further out ---------------------------------------------------------
# Extreme economics: the external backends are free, fast and designated; on-prem is very dear,
# slow and busy. For every strategy, sensitive data stays on-prem and personal data goes scrubbed
# only to permitted regions: the preferred order holds exactly the backends privacy allowed.
# (The router also refuses any order that is not a reordering of them: policy/preference.py.)

extreme_backends := {
	"onprem": [
		measured(priced(vllm_a, hourly_price(100000, 1)), 60000, 50),
		measured(priced(vllm_c, hourly_price(50000, 1)), 30000, 90),
	],
	"external": [
		measured(priced(openai_us, api_price(0, 0)), 1, 0),
		measured(priced(india, api_price(0, 0)), 1, 0),
		measured(priced(mistral_eu, api_price(0, 0)), 2, 0),
	],
}

extreme_prefs := {
	"order": by("order"),
	"cheapest": by("cheapest"),
	"fastest": by("fastest"),
	"designated-us": designate("cheapest", "openai"),
	"designated-in": designate("fastest", "openai-in"),
}

extreme_detections := {"phi": phi, "pci": only("PCI", "CREDIT_CARD"), "pii": pii}

# Routed through flow_got (the one call site): these cases are part of flow_cases' table.
extreme_cases := {concat("/", ["extreme", p, d]): [extreme_prefs[p], extreme_detections[d], sized(50000, 9), extreme_backends] |
	some p
	extreme_prefs[p]
	some d
	extreme_detections[d]
}

extreme_expected := {
	"phi": ["onprem", {"vllm-a", "vllm-c"}],
	"pci": ["onprem", {"vllm-a", "vllm-c"}],
	"pii": ["external_scrubbed", {"openai", "mistral"}], # US tenant: the US and EU backends, never India
}

extreme_cell_ok(r, want) if {
	r[0] == want[0]
	{n | some n in r[1]} == want[1]
	count(r[1]) == count(want[1])
}

test_no_preference_sends_sensitive_or_personal_data_further_out if {
	got := {name: r | some name; extreme_cases[name]; r := flow_got[name]}
	count(got) == count(extreme_prefs) * count(extreme_detections)
	wrong := [name |
		some name in object.keys(got)
		not extreme_cell_ok(got[name], extreme_expected[split(name, "/")[2]])
	]
	wrong == []
}

test_sensitive_data_blocks_rather_than_leave_when_on_prem_is_down if {
	b := {"onprem": [down(vllm_a)], "external": extreme_backends.external}
	d := decide(principal_us, sized(50000, 9), phi, b)
	d.action == "block"
	d.backend == null
	d.fallbacks == []
}
