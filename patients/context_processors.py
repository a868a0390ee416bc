def user_roles(request):
    """The signed-in user's role names, shown in the navigation bar."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"user_roles": []}
    return {"user_roles": [group.name for group in user.groups.all()]}
