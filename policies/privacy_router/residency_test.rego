package privacy_router_test

import data.privacy_router
import rego.v1

test_pii_us_tenant_scrubbed_to_first_external if {
	d := decide(principal_us, request, pii, backends)
	d == {
		"action": "external_scrubbed",
		"backend": "openai",
		"scrub_entities": ["EMAIL_ADDRESS", "PERSON"],
		"fallbacks": ["mistral"],
		"reasons": [
			"PII present: may leave only scrubbed, to a permitted region",
			"personal data scrubbed for external backends in EU, US, export destinations permitted for tenant jurisdiction US",
		],
		"policy_id": "privacy_router.decision",
	}
}

test_pii_eu_member_state_skips_us_region if {
	d := decide(principal_de, request, pii, backends)
	d.action == "external_scrubbed"
	d.backend == "mistral"
}

test_pii_eu_tenant_without_eu_backend_goes_onprem if {
	d := decide(principal_eu, request, pii, {"onprem": [vllm_a], "external": [openai_us]})
	d.action == "onprem"
	d.backend == "vllm-a"
	d.reasons[1] == "no healthy external backend in a region tenant jurisdiction EU may export personal data to: routed on-prem"
}

test_pii_unknown_jurisdiction_goes_onprem if {
	d := decide(principal_br, request, pii, backends)
	d.action == "onprem"
}

test_pii_unhealthy_permitted_backend_is_skipped if {
	d := decide(principal_de, request, pii, {"onprem": [vllm_a], "external": [openai_us, down(mistral_eu)]})
	d.action == "onprem"
}

test_pii_no_backend_at_all_blocks if {
	d := decide(principal_eu, request, pii, {"onprem": [down(vllm_a)], "external": [openai_us]})
	d.action == "block"
	d.backend == null
	d.reasons[1] == "personal data, no permitted external backend and no healthy on-prem backend: blocked"
}

# `with` values are bound to a local first: regopy 1.5.2 ignores `with input.x as <rule reference>`.
test_adequacy_country_is_permitted_for_eu if {
	p := principal_de
	privacy_router.export_permitted("uk-south") with input.principal as p
}

test_us_region_is_not_permitted_for_eu if {
	p := principal_de
	not privacy_router.export_permitted("us-east") with input.principal as p
}

test_unknown_region_is_never_permitted if {
	p := principal_us
	not privacy_router.export_permitted("mars-1") with input.principal as p
}

test_residency_data_can_be_overridden if {
	p := principal_eu
	privacy_router.export_permitted("us") with input.principal as p
		with data.residency.exports as {"EU": ["US"]}
}
