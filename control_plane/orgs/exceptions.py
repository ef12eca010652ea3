"""Errors of the organisations domain."""

from __future__ import annotations

from control_plane.errors import Conflict, NotFound, Unauthenticated


class OrgNotFound(NotFound):
    code = "org_not_found"


class MemberNotFound(NotFound):
    code = "member_not_found"


class EmailTaken(Conflict):
    code = "email_taken"


class AlreadyMember(Conflict):
    code = "already_member"


class LastAdmin(Conflict):
    code = "last_admin"


class InvitationNotFound(NotFound):
    code = "invitation_not_found"


class InvalidPassword(Unauthenticated):
    code = "invalid_credentials"
