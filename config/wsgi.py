import gc
import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

# What is loaded by now (Django, the apps, their models and URLs) lives as long as the process. Frozen,
# the garbage collector stops scanning those ~150,000 objects in every full collection: that scanning cost
# the patient page 2 ms a request on average, in pauses that land on a few unlucky requests (issue 7).
get_resolver().url_patterns  # noqa: B018 - load the URLs now rather than on the first request
gc.freeze()
