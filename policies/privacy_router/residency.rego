# Data residency: where a tenant's personal data may be sent.
#
# data.residency comes from policies/data/residency.json (the embedded engine mounts each
# data/<stem>.json under data.<stem>). An unknown region or tenant jurisdiction is never an export
# destination, so personal data then stays on-prem.
package privacy_router

import rego.v1

# The legal area whose export rules bind the tenant: EU member states map to "EU".
tenant_area := data.residency.jurisdiction_aliases[input.principal.jurisdiction]

tenant_area := input.principal.jurisdiction if {
	not data.residency.jurisdiction_aliases[input.principal.jurisdiction]
}

allowed_destinations := {j | some j in data.residency.exports[tenant_area]}

region_jurisdiction(region) := data.residency.regions[region]

export_permitted(region) if region_jurisdiction(region) in allowed_destinations
