from chat.tools.titles import prettify, remember, tool_title


def test_names_without_a_title_are_prettified():
    assert [prettify(name) for name in ["calculator", "current_time", "getWeather", "fetch-url", "readURL"]] == [
        "Calculator", "Current time", "Get weather", "Fetch url", "Read URL",
    ]


def test_a_title_the_server_gave_wins_until_a_listing_drops_it():
    remember("weather__get_forecast", "Weather forecast")
    assert tool_title("weather__get_forecast") == "Weather forecast"
    remember("weather__get_forecast", None)
    assert tool_title("weather__get_forecast") == "Get forecast"
