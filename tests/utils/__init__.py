"""What the tests share to run a service in-process and to make its data.

``harness`` runs any of the three services the same way (a fresh database, the real
broker, a manual clock, a staff client); ``plans``, ``booking`` and ``notify`` hold each
service's ``running_<service>`` and the factories its tests build their data with.
"""
