# `pydbg check leaks -- pytest tests/`: each test runs in warm-up and counted rounds; test_search
# leaks one list per run (refleak.search), test_result_shape does not.
import refleak


def test_search():
    code, controls = refleak.search()
    assert code == 0


def test_result_shape():
    assert isinstance((0, []), tuple)
