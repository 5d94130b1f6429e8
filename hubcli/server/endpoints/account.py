"""Account and misc endpoints: ``whoami``, ``agent-harnesses`` and ``validate-yaml``."""

from __future__ import annotations

from hubcli.server.request import Request
from hubcli.server.response import ApiError, Response
from hubcli.server.views import parse_front_matter


def agent_harnesses(req: Request) -> Response:
    return Response.json({"standardEnvVars": [], "harnesses": {}})


def whoami(req: Request) -> Response:
    user = req.user
    if user is None:
        raise ApiError(401, "Invalid user token.")
    orgs = [
        {"type": "org", "name": org, "roleInOrg": "write"}
        for org, members in sorted(req.state.orgs.items())
        if user in members
    ]
    return Response.json(
        {
            "type": "user",
            "id": user,
            "name": user,
            "fullname": user.capitalize(),
            "email": f"{user}@example.com",
            "emailVerified": True,
            "isPro": False,
            "orgs": orgs,
            "auth": {
                "type": "access_token",
                "accessToken": {"displayName": "local", "role": "write"},
            },
        }
    )


def validate_yaml(req: Request) -> Response:
    data = req.json_body()
    content = data.get("content", "") if isinstance(data, dict) else ""
    if (
        isinstance(content, str)
        and content.startswith("---")
        and parse_front_matter(content) is None
        and content.strip() != "---"
    ):
        err = {"errors": [{"message": "Invalid YAML in README front matter"}], "warnings": []}
        return Response.json(err, 400)
    return Response.json({"errors": [], "warnings": []})
