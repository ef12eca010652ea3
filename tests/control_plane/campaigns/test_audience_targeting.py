"""Campaigns' `targeting.audience` over the API: segments of age bands and genders with one
minimum share, stored with the campaign; what does not make sense is refused and changes
nothing."""

from __future__ import annotations

import pytest

from tests.control_plane.campaigns.test_campaigns import campaign_body
from tests.helpers import error_code, signup

AUDIENCE = {"segments": [{"age_bands": ["25-34", "18-24"], "genders": ["female"]},
                         {"age_bands": ["65+"]}],
            "min_share": 0.3}


def targeting(audience: object) -> dict[str, object]:
    return {"venue_type_ids": [1], "audience": audience}


def test_an_audience_is_stored_with_the_campaign_and_read_back(client):
    advertiser = signup(client, "advertiser")
    r = client.post("/v1/campaigns", headers=advertiser.headers,
                    json=campaign_body(targeting=targeting(AUDIENCE)))
    assert r.status_code == 201, r.text
    url = f"/v1/campaigns/{r.json()['id']}"
    audience = client.get(url, headers=advertiser.headers).json()["targeting"]["audience"]
    # bands come back in the vocabulary's order; no genders stays "any gender"
    assert audience == {"segments": [{"age_bands": ["18-24", "25-34"], "genders": ["female"]},
                                     {"age_bands": ["65+"], "genders": []}],
                        "min_share": 0.3}
    r = client.patch(url, headers=advertiser.headers, json={"targeting": targeting(None)})
    assert r.status_code == 200, r.text
    assert r.json()["targeting"]["audience"] is None


@pytest.mark.parametrize("audience, says", [
    ({"segments": [{"age_bands": []}], "min_share": 0.3}, "a segment with no bands"),
    ({"segments": [{"age_bands": ["13-17"]}], "min_share": 0.3}, "unknown age band '13-17'"),
    ({"segments": [{"age_bands": ["18-24"], "genders": ["robot"]}], "min_share": 0.3},
     "unknown gender 'robot'"),
    ({"segments": [{"age_bands": ["18-24"]}], "min_share": 0}, "greater than 0"),
    ({"segments": [{"age_bands": ["18-24"]}], "min_share": 1.2}, "less than or equal to 1"),
    ({"segments": [], "min_share": 0.3}, "at least 1"),
    ({"segments": [{"age_bands": ["18-24"]}]}, "Field required"),
])
def test_an_audience_that_makes_no_sense_is_refused_and_changes_nothing(client, audience, says):
    advertiser = signup(client, "advertiser")
    created = client.post("/v1/campaigns", headers=advertiser.headers,
                          json=campaign_body(targeting=targeting(AUDIENCE))).json()
    url = f"/v1/campaigns/{created['id']}"
    for r in (client.post("/v1/campaigns", headers=advertiser.headers,
                          json=campaign_body(targeting=targeting(audience))),
              client.patch(url, headers=advertiser.headers,
                           json={"targeting": targeting(audience)})):
        assert r.status_code == 422, r.text
        assert error_code(r) == "validation_error"
        assert any(says in d["msg"] for d in r.json()["error"]["details"]), r.text
    listed = client.get("/v1/campaigns", headers=advertiser.headers).json()["items"]
    assert [c["id"] for c in listed] == [created["id"]]
    assert client.get(url, headers=advertiser.headers).json()["targeting"]["audience"] == \
        created["targeting"]["audience"]
