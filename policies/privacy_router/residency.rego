# Data residency: where a tenant's personal data may be sent.
#
# data.residency comes from policies/data/residency.json (the embedded engine mounts each
# data/<stem>.json under data.<stem>). An unknown region or tenant jurisdiction is never an export
# destination, so personal data then stays on-prem.
package privacy_router

import rego.v1

# The legal area whose export rules bind a jurisdiction: EU member states map to "EU".
legal_area(jurisdiction) := data.residency.jurisdiction_aliases[jurisdiction]

legal_area(jurisdiction) := jurisdiction if not data.residency.jurisdiction_aliases[jurisdiction]

tenant_area := legal_area(input.principal.jurisdiction)

allowed_destinations := {j | some j in data.residency.exports[tenant_area]}

region_jurisdiction(region) := data.residency.regions[region]

# The whole rule, input-free: may a tenant in `jurisdiction` send personal data to `region`?
export_permitted_for(jurisdiction, region) if {
	region_jurisdiction(region) in data.residency.exports[legal_area(jurisdiction)]
}

export_permitted(region) if export_permitted_for(input.principal.jurisdiction, region)
