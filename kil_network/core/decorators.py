"""Access rules for views: confirmed members, staff, admins."""
from functools import wraps

from flask import abort, flash, redirect, request, url_for
from flask_login import current_user


def confirmed_required(view):
    """Signed in with a confirmed email address; otherwise explain what to do."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        if not current_user.is_confirmed:
            flash("Confirm your email address to take part. We sent you a link when you joined.", "warning")
            return redirect(url_for("account.profile"))
        return view(*args, **kwargs)

    return wrapped


def staff_required(view):
    """Staff and admins only (403 for members, sign-in for anonymous)."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        if not current_user.is_staff:
            abort(403)
        return view(*args, **kwargs)

    return wrapped


def admin_required(view):
    """Admins only."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        if not current_user.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return wrapped
