from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.ade import HTMX


def _queries(client, **extra) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(reverse("agents:list"), **extra)
    assert response.status_code == 200
    return len(captured.captured_queries)


def test_the_list_costs_the_same_queries_for_one_and_five_agents(
    signed_in, make_agent, django_assert_num_queries
):
    make_agent(name="agent-1", enable_sleeptime=True)
    one = _queries(signed_in)
    for number in range(2, 6):
        make_agent(name=f"agent-{number}", enable_sleeptime=number % 2 == 0)
    with django_assert_num_queries(one):
        response = signed_in.get(reverse("agents:list"))
    assert response.content.decode().count("<tr>") == 6  # the header and five agents


def test_the_htmx_rows_cost_the_same_queries_for_one_and_five_agents(
    signed_in, make_agent, django_assert_num_queries
):
    make_agent(name="agent-1")
    one = _queries(signed_in, **HTMX)
    for number in range(2, 6):
        make_agent(name=f"agent-{number}")
    with django_assert_num_queries(one):
        response = signed_in.get(reverse("agents:list"), **HTMX)
    assert response.content.decode().count("<tr>") == 5
