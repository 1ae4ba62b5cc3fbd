package privacy_router_test

import rego.v1

test_model_served_onprem_stays_onprem_when_clean if {
	d := decide(principal_us, with_model("llama-3.1-8b"), clean, backends)
	d.action == "onprem"
	d.backend == "vllm-a"
	d.reasons == ["requested model is served on-prem: routed on-prem"]
}

test_model_pin_prefers_backend_serving_the_model if {
	d := decide(principal_us, with_model("qwen-2.5-7b"), phi, {"onprem": [vllm_a, vllm_b], "external": []})
	d.backend == "vllm-b"
}

test_model_on_unhealthy_onprem_is_not_pinned if {
	d := decide(principal_us, with_model("qwen-2.5-7b"), clean, {"onprem": [vllm_a, down(vllm_b)], "external": [openai_us]})
	d.action == "external"
	d.backend == "openai"
}

test_first_healthy_onprem_is_chosen if {
	d := decide(principal_us, request, phi, {"onprem": [down(vllm_a), vllm_b], "external": [openai_us]})
	d.backend == "vllm-b"
}

test_sensitive_without_healthy_onprem_blocks if {
	d := decide(principal_us, request, phi, {"onprem": [down(vllm_a)], "external": [openai_us]})
	d == {
		"action": "block",
		"backend": null,
		"scrub_entities": [],
		"fallbacks": [],
		"reasons": [
			"PHI present: sensitive class stays on-prem",
			"sensitive data and no healthy on-prem backend: blocked",
		],
		"policy_id": "privacy_router.decision",
	}
}

test_clean_falls_back_to_onprem if {
	d := decide(principal_us, request, clean, {"onprem": [vllm_a], "external": [down(openai_us)]})
	d.action == "onprem"
	d.reasons == ["no healthy external backend: routed on-prem"]
}

test_clean_with_no_backend_blocks if {
	d := decide(principal_us, request, clean, {"onprem": [], "external": []})
	d.action == "block"
	d.reasons == ["no healthy backend: blocked"]
}

test_first_healthy_external_is_chosen if {
	d := decide(principal_us, request, clean, {"onprem": [], "external": [down(openai_us), mistral_eu]})
	d.backend == "mistral"
}

test_fallbacks_are_other_healthy_backends_of_the_same_kind if {
	d := decide(principal_us, request, phi, {"onprem": [vllm_a, down(vllm_b), object.union(vllm_b, {"name": "vllm-c"})], "external": [openai_us]})
	d.backend == "vllm-a"
	d.fallbacks == ["vllm-c"]
}

test_scrubbed_fallbacks_are_only_permitted_regions if {
	india := {"name": "openai-in", "region": "ap-south", "zero_data_retention": true, "healthy": true}
	d := decide(principal_us, request, pii, {"onprem": [vllm_a], "external": [openai_us, india]})
	d.action == "external_scrubbed"
	d.fallbacks == []
	c := decide(principal_us, request, clean, {"onprem": [vllm_a], "external": [openai_us, india]})
	c.fallbacks == ["openai-in"]
}
