"""An admin runs an SFT round from the browser on the bundled SmolLM2-135M through the real
worker: the loss curve grows while it trains, the evaluation table and samples arrive, and the
candidate is promoted from the round page."""

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from curator.models import ModelVersion, Round
from tests.test_browser import login, page  # noqa: F401 - the page fixture
from tests.test_llm_rounds import TINY_TRAINING, correction_project

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def screenshot(page, tmp_path: Path, name: str) -> None:  # noqa: F811
    # Set CURATOR_SCREENSHOTS to keep them for a person to look at.
    folder = Path(os.environ.get("CURATOR_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def test_admin_runs_an_sft_round_reads_its_evaluation_and_promotes_the_candidate(
    page,  # noqa: F811 - the fixture
    live_server,
    celery_worker,
    admin_user,
    tmp_path,
):
    # Six steps, so the page has time to show training in progress.
    project = correction_project(admin_user, llm_training={**TINY_TRAINING, "max_steps": 6})
    login(page, live_server.url, admin_user.username)
    page.goto(f"{live_server.url}/p/{project.slug}/")
    page.click("button:has-text('Start a round')")
    expect(page.locator("h1")).to_have_text("Round 1")
    round_ = Round.objects.get(project=project, number=1)
    assert round_.kind == "sft"

    # The status card refreshes itself: step x / 6 and the loss curve while training.
    evaluation = page.locator("#evaluation")
    step = page.locator("#training-step")
    seen_steps = set()
    for _ in range(1800):
        if evaluation.count():
            break
        if step.count():
            if not seen_steps:
                screenshot(page, tmp_path, "llm-round-training")
            seen_steps.add(step.inner_text())
        page.wait_for_timeout(500)
    expect(evaluation).to_be_visible()
    assert seen_steps and all(text.endswith("/ 6") for text in seen_steps), seen_steps

    round_.refresh_from_db()
    assert round_.status == Round.Status.SUCCEEDED
    assert page.locator("#llm-training svg.chart polyline").count() == 1
    expect(page.locator("#llm-training")).to_contain_text("6 steps on 4 training rows")
    for variant in ("base", "in_context", "candidate"):
        expect(page.locator(f"#variant-{variant}")).to_be_visible()
    candidate = page.locator("#variant-candidate td")
    assert (
        candidate.nth(2)
        .inner_text()
        .startswith(f"{round_.metrics['evaluation']['rows'][2]['win_rate']['win_rate']:.3f}")
    )
    expect(page.locator("#baseline")).to_contain_text("The baseline is the base model")
    expect(page.locator("details.sample").first).to_contain_text("Candidate")
    screenshot(page, tmp_path, "llm-round-page")

    # Promote from the round page, after a confirmation; the Models page shows it in use.
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button:has-text('Promote v1')")
    expect(page.locator("h1")).to_have_text("Models")
    expect(page.locator("#model-1")).to_contain_text("promoted")
    expect(page.locator("#model-versions")).to_contain_text("LLM in use: v1")
    screenshot(page, tmp_path, "models-page")
    version = ModelVersion.objects.get(project=project, number=1)
    assert (version.status, version.promoted_by) == ("promoted", admin_user)
